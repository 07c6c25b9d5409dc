"""Model names: the default model, and the names xAI retired (and now serves as another model).

xAI retired grok-4-0709 (and the `grok-4` alias), the grok-4-fast and grok-4-1-fast families,
grok-code-fast-1, grok-3 and grok-imagine-image-pro on 2026-05-15. Requests to those names are
served by grok-4.3 and billed at its prices, which is not a drop-in replacement for streaming and
function calling, so grok_magic names a current model itself and says when xAI serves another.
"""

from __future__ import annotations

# grok-4.3: 1M tokens of context, image input, reasoning; the model xAI serves for `grok-4`.
DEFAULT_MODEL = "grok-4.3"
RETIRED_ON = "2026-05-15"
REDIRECT_TARGET = "grok-4.3"  # what xAI serves for a retired text model
RETIRED_NAMES = frozenset({
    "grok-4", "grok-4-latest", "grok-4-0709", "grok-3", "grok-3-latest", "grok-3-beta",
    "grok-code-fast", "grok-code-fast-1", "grok-code-fast-1-0825", "grok-imagine-image-pro",
})
RETIRED_FAMILIES = ("grok-4-fast", "grok-4-1-fast")  # every name starting with these


def is_retired(name: str | None) -> bool:
    """Whether xAI retired `name` (requests to it are served by another model).

    >>> is_retired("grok-4"), is_retired("grok-4-fast-reasoning"), is_retired("grok-4.3")
    (True, True, False)
    >>> is_retired("grok-3-mini")
    False
    """
    if not name:
        return False
    return name in RETIRED_NAMES or any(
        name == family or name.startswith(family + "-") for family in RETIRED_FAMILIES)


def served_note(asked: str | None, served: str | None) -> str | None:
    """One line for when xAI served `asked` as another model; None when it served what was asked
    (or said nothing). A variant of the asked name (grok-3-mini → grok-3-mini-high) is no news.

    >>> served_note("grok-4", "grok-4.3")
    'grok-4 is served as grok-4.3 (xAI retired grok-4 on 2026-05-15)'
    >>> served_note("grok-4.3-latest", "grok-4.3")
    'grok-4.3-latest is served as grok-4.3 (an alias)'
    >>> served_note("grok-3-mini", "grok-3-mini-high") is None, served_note("grok-4.3", "grok-4.3")
    (True, None)
    """
    if not asked or not served or served == asked or served.startswith(asked + "-"):
        return None
    why = f"xAI retired {asked} on {RETIRED_ON}" if is_retired(asked) else "an alias"
    return f"{asked} is served as {served} ({why})"

"""The API key as a secret value, and masking it in any text: whole, split, case-changed or encoded."""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

MASK = "***"
LOOKALIKE_MASK = "xai-***"
# xAI keys look like "xai-" followed by a long run of letters and digits; mask lookalikes too.
KEY_LOOKALIKE = re.compile(r"xai-[A-Za-z0-9_\-]{8,}", re.I)
MIN_SECRET_LENGTH = 4
# A run of this many characters of a registered key is masked wherever it appears, so a key the
# server echoes split in two, or cut short, is still hidden.
FRAGMENT = 8
# Percent-encoded runs (e.g. `xai%2Dfake%2D...`) are decoded before they are searched.
_URL_CHAR = r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~+\-])"
# Tried only where a run starts (the lookbehind): the leftmost match always starts there anyway,
# and trying inside long runs made redaction quadratic in a long word with a "%" in the text.
ENCODED_RUN = re.compile(rf"(?<![A-Za-z0-9._~+\-]){_URL_CHAR}*%[0-9A-Fa-f]{{2}}{_URL_CHAR}*")

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_lock = threading.Lock()
_fragments: dict[str, frozenset[str]] = {}  # secret (lower case) -> its FRAGMENT-long pieces
# The fast path: one regex that finds something in (lowered) text whenever _masked_spans would,
# so text holding no piece of a key (nearly all text) skips the exact search. Built for the
# secrets registered (_generation counts them) and rebuilt when another is registered.
_generation = 0
_prefilter: tuple[int, int, re.Pattern[str]] | None = None  # generation, secrets, the regex


class Secret:
    """A key that never shows itself: `repr`/`str` are masked, it cannot be pickled.

    >>> key = Secret("xai-DOCTEST-example-only-0000")
    >>> key, f"{key}", key.reveal()[:4]
    (Secret('***'), '***', 'xai-')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The key itself, for the one place that sends it (the Authorization header)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return other._value == self._value
        if isinstance(other, str):
            return other == self._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):
        raise TypeError("an API key is not pickled; load it again from XAI_API_KEY or .env")


def register_secret(key: str | None) -> None:
    """Remember a key in use so that every later redaction masks it, whatever its shape."""
    if not key or len(key) < MIN_SECRET_LENGTH:
        return
    global _generation
    lowered = _ascii_lower(key)
    size = min(FRAGMENT, len(lowered))
    with _lock:
        if lowered not in _fragments:
            _fragments[lowered] = frozenset(
                lowered[i : i + size] for i in range(len(lowered) - size + 1)
            )
            _generation += 1


def _ascii_lower(text: str) -> str:
    # Keys are ASCII; str.lower() could change the length (and so the offsets) of other text.
    return text.translate(_ASCII_LOWER)


def _needles(secret: str) -> set[str]:
    """Strings one of which is in any text that holds a piece of `secret`: its pieces, or (when
    fewer) its blocks — `block` characters every `stride`. A piece is `size` long, so it covers
    the block that starts at the first multiple of `stride` within its first `stride` characters
    (stride + block - 1 == size). Fewer, shorter strings to look for; a false alarm only means
    the exact search runs."""
    size = min(FRAGMENT, len(secret))
    block = (size + 1) // 2
    stride = size - block + 1
    pieces = _fragments[secret]
    blocks = {secret[k : k + block] for k in range(0, len(secret) - block + 1, stride)}
    return set(pieces) if len(pieces) <= len(blocks) else blocks


def _may_hold_piece(lowered: str) -> bool:
    """False when `lowered` holds no piece of any registered secret (one regex search)."""
    global _prefilter
    cached = _prefilter
    if cached is None or cached[0] != _generation or cached[1] != len(_fragments):
        with _lock:
            needles = set().union(*map(_needles, list(_fragments)))
            cached = _prefilter = (_generation, len(_fragments), re.compile(
                "|".join(map(re.escape, sorted(needles, key=lambda n: (-len(n), n))))))
    return cached[2].search(lowered) is not None


def _masked_spans(lowered: str) -> list[tuple[int, int]]:
    spans = []
    for pieces in list(_fragments.values()):
        for piece in pieces:
            start = lowered.find(piece)
            while start >= 0:
                spans.append((start, start + len(piece)))
                start = lowered.find(piece, start + 1)
    return spans


def redact(text: str, key: str | Secret | None = None) -> str:
    """Mask every registered key (and `key`), pieces of it, and anything that looks like a key.

    >>> redact("bad key xai-QRSTUVWXYZqrstuv")
    'bad key xai-***'
    """
    if not text or not isinstance(text, str):
        return text
    if isinstance(key, Secret):
        key = key.reveal()
    register_secret(key)
    text = ENCODED_RUN.sub(_redact_encoded, text) if "%" in text else text
    spans = []
    if _fragments:
        lowered = _ascii_lower(text)
        if _may_hold_piece(lowered):
            spans = _masked_spans(lowered)
    if spans:
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        out, last = [], 0
        for start, end in merged:
            out += [text[last:start], MASK]
            last = end
        out.append(text[last:])
        text = "".join(out)
    return KEY_LOOKALIKE.sub(LOOKALIKE_MASK, text)


def _redact_encoded(match: re.Match) -> str:
    run = match.group(0)
    decoded = unquote(run)
    lowered = _ascii_lower(decoded) if _fragments else ""
    holds_key = bool(_fragments and _may_hold_piece(lowered) and _masked_spans(lowered))
    return MASK if holds_key or KEY_LOOKALIKE.search(decoded) else run


def redact_value(value):
    """A copy of a JSON-like value (dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value

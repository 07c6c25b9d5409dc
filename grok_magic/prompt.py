"""Cell text to a user turn: `{name}` interpolation and inline images, kept in order."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

# {name} names a bare variable; {{name}} is the literal text {name}. Nothing else is evaluated,
# so {os.environ[...]} or {x!r:>10} stay as typed.
PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
BARE_IMAGE_URL = re.compile(
    r"(?<![(<\"'])\bhttps?://[^\s<>()\"']+?\.(?:png|jpe?g)(?:\?[^\s<>()\"']*)?(?=[\s)\]>,;\"']|$)",
    re.I,
)

Part = str | dict


def interpolate(
    text: str, namespace: Mapping, is_image: Callable[[object], bool]
) -> list[tuple[str, object]]:
    """Split `text` into ("text", str) and ("value", obj) pieces by `{name}` placeholders.

    A `{name}` whose name is not in `namespace` stays as typed. Non-image values become text.

    >>> interpolate("a {x} {{x}} {y} {x.real}", {"x": 1}, lambda o: False)
    [('text', 'a 1 {x} {y} {x.real}')]
    """
    pieces: list[tuple[str, object]] = []
    buffer: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(text):
        buffer.append(text[last : match.start()])
        last = match.end()
        escaped, name = match.groups()
        if escaped:
            buffer.append("{" + escaped + "}")
        elif name in namespace and is_image(namespace[name]):
            pieces.append(("text", "".join(buffer)))
            buffer = []
            pieces.append(("value", namespace[name]))
        elif name in namespace:
            value = namespace[name]
            buffer.append(value if isinstance(value, str) else str(value))
        else:
            buffer.append(match.group(0))
    buffer.append(text[last:])
    pieces.append(("text", "".join(buffer)))
    return [p for p in pieces if p != ("text", "")]


def looks_like_image_source(src: str) -> bool:
    """True for what an `![alt](src)` may point at: an http(s)/data URL or an existing file."""
    if src.startswith(("http://", "https://", "data:image/", "file:")):
        return True
    try:
        return Path(src).expanduser().is_file()
    except (OSError, ValueError):
        return False


def split_inline_images(text: str) -> list[tuple[str, str]]:
    """Split text into ("text", str) and ("image", src) at `![alt](src)` and bare image URLs.

    >>> split_inline_images("see https://e.com/a.png?s=1 now")
    [('text', 'see '), ('image', 'https://e.com/a.png?s=1'), ('text', ' now')]
    """
    found: list[tuple[int, int, str]] = []
    for match in MARKDOWN_IMAGE.finditer(text):
        if looks_like_image_source(match.group(2)):
            found.append((match.start(), match.end(), match.group(2)))
    for match in BARE_IMAGE_URL.finditer(text):
        if not any(start <= match.start() < end for start, end, _ in found):
            found.append((match.start(), match.end(), match.group(0)))
    pieces: list[tuple[str, str]] = []
    last = 0
    for start, end, src in sorted(found):
        if text[last:start]:
            pieces.append(("text", text[last:start]))
        pieces.append(("image", src))
        last = end
    if text[last:]:
        pieces.append(("text", text[last:]))
    return pieces

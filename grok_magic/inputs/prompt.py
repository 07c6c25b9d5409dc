"""Text and a namespace to a user turn: `{name}` values, inline images and `-i` images, in order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from grok_magic.errors import InputError, KeyInRequestError
from grok_magic.safety.redaction import key_in
from grok_magic.settings import DEFAULT_MAX_VALUE_CHARS
from grok_magic.xai.messages import user_message

# {name} names a bare variable; {{name}} is the literal text {name}; {In[3]} and {Out[3]} are a
# cell's source and output value, {Err} the last error. Nothing else is evaluated, so
# {os.environ[...]} or {x!r:>10} stay as typed.
PLACEHOLDER = re.compile(
    r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{(In|Out)\[(\d+)\]\}|\{([A-Za-z_][A-Za-z0-9_]*)\}"
)
MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
BARE_IMAGE_URL = re.compile(
    r"(?<![(<\"'])\bhttps?://[^\s<>()\"']+?\.(?:png|jpe?g)(?:\?[^\s<>()\"']*)?(?=[\s)\]>,;\"']|$)",
    re.I,
)

Part = str | dict


@dataclass(frozen=True)
class AsImage:
    """A value `{name}` sends as an image: a file path or bytes the user listed (`--each` over a
    folder of photos). Plain strings are never read as paths; this wrapper says so explicitly."""

    source: object


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


def resolve_image_source(src: str, namespace: Mapping) -> object:
    """An `-i` value: a variable of that name wins; otherwise a path or URL for the images module."""
    return namespace[src] if src.isidentifier() and src in namespace else src


def build_user_turn(
    text: str, namespace: Mapping, *, images: Iterable = (), detail: str | None = None,
    max_side: int | None = None, image_part: Callable | None = None,
    max_value_chars: int = DEFAULT_MAX_VALUE_CHARS, last_error: str | None = None,
    keys_found: list | None = None,
) -> dict:
    """The one way a user turn is built (the magic, the panel and scripts all call it).

    `{name}` inserts `namespace[name]`: an image-like value becomes an image part there, any other
    value its description within `max_value_chars` (grok_magic.inputs.describe). `{In[3]}` is cell 3's
    source and `{Out[3]}` its output (an image part if image-like), from the namespace's `In` and
    `Out` as IPython keeps them; `{Err}` is `last_error`. Inline images (`![alt](src)`, bare
    image URLs) are looked for **only in the text as typed**, never inside an inserted value, so
    a value can neither read a local file nor add a remote image. Then each of `images` (a
    variable name, path, URL or image object).

    A value that holds the API key in any form redaction knows raises KeyInRequestError naming
    it (the key is never sent to the model); a dry run passes `keys_found`, a list that collects
    those errors instead, so it can show the body as it is and say it would be refused.

    >>> build_user_turn("Hi {who}, see {{who}}", {"who": "![x](/etc/passwd)"})
    {'role': 'user', 'content': 'Hi ![x](/etc/passwd), see {who}'}
    """
    from grok_magic.inputs.describe import describe_value
    from grok_magic.inputs.images import DEFAULT_MAX_IMAGE_SIDE, is_image_like, to_image_part

    side = max_side or DEFAULT_MAX_IMAGE_SIDE

    def part(source: object) -> dict:
        if image_part is not None:
            return image_part(source)
        if isinstance(source, Mapping) and source.get("type") == "image_url":
            return dict(source)
        return to_image_part(source, detail=detail, max_side=side)

    parts: list = []
    last = 0

    def checked(label: str, text: object) -> object:
        found = key_in(text, label) if isinstance(text, str) else None
        if found is not None:
            if keys_found is None:
                raise KeyInRequestError(*found)
            keys_found.append(KeyInRequestError(*found))
        return text

    def typed(segment: str) -> None:
        for kind, piece in split_inline_images(segment):
            parts.append(part(piece) if kind == "image" else piece)

    for match in PLACEHOLDER.finditer(text):
        typed(text[last : match.start()])
        last = match.end()
        escaped, history, number, name = match.groups()
        if escaped:
            parts.append("{" + escaped + "}")
        elif history:
            value = _history_value(namespace, history, int(number))
            label = f"{{{history}[{number}]}}"
            parts.append(part(value) if history == "Out" and is_image_like(value)
                         else checked(label, value) if history == "In"
                         else checked(label, describe_value(value, max_value_chars)))
        elif name == "Err" and last_error is not None:
            parts.append(checked("{Err}", last_error))
        elif name == "Err" and "Err" not in namespace:
            raise InputError("{Err} stands for the last error, and no cell has failed yet",
                             hint="Run the failing cell first, or write the error into the cell.")
        elif name in namespace and isinstance(namespace[name], AsImage):
            parts.append(part(namespace[name].source))
        elif name in namespace and is_image_like(namespace[name]):
            parts.append(part(namespace[name]))
        elif name in namespace:
            parts.append(checked(f"{{{name}}}", describe_value(namespace[name], max_value_chars)))
        else:
            parts.append(match.group(0))
    typed(text[last:])
    for src in images:
        parts.append(part(resolve_image_source(src, namespace) if isinstance(src, str) else src))
    turn = user_message(parts)
    if not turn["content"]:
        raise InputError("the message is empty", hint="Write a question (or attach an image).")
    return turn


def _history_value(namespace: Mapping, kind: str, number: int) -> object:
    """`In[number]` (a cell's source) or `Out[number]` (its output value), or a clear error."""
    history = namespace.get(kind)
    try:
        value = history[number]
    except (TypeError, KeyError, IndexError):
        value = None
    if value is None or (kind == "In" and not isinstance(value, str)):
        what = "source" if kind == "In" else "output"
        raise InputError(f"{{{kind}[{number}]}} names cell {number}'s {what}, and there is none",
                         hint="Check the cell number in the prompt, e.g. [3]: is cell 3.")
    return value


def sent_image_urls(user_turn: Mapping) -> set[str]:
    """The http(s) image URLs a user turn sends: the only remote images an answer may show."""
    content = user_turn.get("content")
    if not isinstance(content, list):
        return set()
    return {p["image_url"]["url"] for p in content if p.get("type") == "image_url"
            and p["image_url"]["url"].startswith(("http://", "https://"))}

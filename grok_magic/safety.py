"""Untrusted model text made safe to show as Markdown: no live HTML, no surprise image loads."""

from __future__ import annotations

import html
import re
from collections.abc import Collection

SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:", "#")
# Raw `<` survives only where the renderer is certain to show it as code, so safety never hangs on
# matching the renderer's parse exactly. Hence strict shapes: a fence opens only at column 0 (so
# no list item or quote can end it early) and a backtick fence's info string has no backtick; a
# code span stays on one line, is not backslash-escaped and has no `|` (GFM splits table cells
# first); anything else is prose, where all HTML is removed or escaped.
FENCE = re.compile(r"^(`{3,}(?=[^`]*$)|~{3,})")
FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
INLINE_CODE = re.compile(r"(?<![\\`])(`+)([^`\n|](?:[^\n|]*?[^`\n|])?)\1(?!`)")
# TeX that MathJax typesets: $$…$$, $…$, \(…\), \[…\]. Inside it `<` becomes \lt, which renders
# the same and can never open a tag (if the renderer does not see math, the text shows \lt).
MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\$)|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
AUTOLINK = re.compile(r"<((?:https?|mailto):[^\s<>]+)>")
# ![alt](url "title") and [text](url "title"); the URL may be wrapped in <>.
INLINE_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^\s()<>]*(?:\([^\s()]*\))?)>?"
                         r"((?:\s+(?:\"[^\"]*\"|'[^']*'))?)\s*\)")
REF_IMAGE = re.compile(r"!\[((?:[^\[\]]|\[[^\[\]]*\])*)\](\[[^\]]*\])")
REF_DEFINITION = re.compile(r"^( {0,3}\[[^\]]+\]:\s*)(\S+)(.*)$", re.M)


def _clean_html(text: str) -> str:
    import nh3  # a real sanitiser (ammonia); imported on first use

    text = AUTOLINK.sub(r"\1", text)  # keep autolinks: bare URLs still link in GFM
    # With no tags allowed every tag is removed or escaped; `>` cannot open a tag, so restoring
    # it keeps blockquotes and arrows intact without letting any HTML through.
    return nh3.clean(text, tags=set()).replace("&gt;", ">")


def _safe_url(url: str) -> bool:
    plain = re.sub(r"[\x00-\x20]", "", html.unescape(url)).lower()
    return plain.startswith(SAFE_LINK_SCHEMES) or not re.match(r"^[a-z][a-z0-9+.\-]*:", plain)


def _fix_links(text: str, allowed_images: Collection[str]) -> str:
    def link(match: re.Match) -> str:
        bang, label, url, title = match.groups()
        if bang and url in allowed_images and url.startswith(("http://", "https://")):
            return match.group(0)
        if not _safe_url(url):
            return f"{label} (unsafe link removed)" if not bang else f"[image: {label}]"
        # An image the user did not send becomes a link: loading it could leak data.
        return f"[{label or 'image'}]({url}{title})"

    text = INLINE_LINK.sub(link, text)
    text = REF_IMAGE.sub(lambda m: f"[{m.group(1) or 'image'}]{m.group(2)}", text)
    return REF_DEFINITION.sub(
        lambda m: m.group(0) if _safe_url(m.group(2)) else f"{m.group(1)}#unsafe-link-removed",
        text,
    )


def _text(text: str, allowed_images: Collection[str]) -> str:
    pieces, last = [], 0
    for match in MATH.finditer(text):
        pieces.append(_fix_links(_clean_html(text[last : match.start()]), allowed_images))
        pieces.append(_fix_links(match.group(0).replace("<", "\\lt "), allowed_images))
        last = match.end()
    pieces.append(_fix_links(_clean_html(text[last:]), allowed_images))
    return "".join(pieces)


def _prose(text: str, allowed_images: Collection[str]) -> str:
    pieces, last = [], 0
    for match in INLINE_CODE.finditer(text):
        pieces.append(_text(text[last : match.start()], allowed_images))
        pieces.append(match.group(0))  # code spans show HTML as text already
        last = match.end()
    pieces.append(_text(text[last:], allowed_images))
    return "".join(pieces)


def fence_closes(line: str, fence: str) -> bool:
    """Whether `line` closes a fence opened by `fence` (same character, at least as long)."""
    match = FENCE_CLOSE.match(line)
    return bool(match) and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)


def safe_markdown(text: str, allowed_images: Collection[str] = ()) -> str:
    """Markdown that renders model text without running HTML/JS or loading unknown images.

    Raw HTML outside code is removed or escaped by nh3; `![..](url)` stays an image only when
    the user sent that URL, else it becomes a link; javascript:/data: links lose their target.

    >>> safe_markdown('Hi <img src=x onerror=alert(1)> ![c](https://e.com/c.png)')
    'Hi  [c](https://e.com/c.png)'
    """
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        match = FENCE.match(line)
        if fence is None:
            if match:
                out.append(_prose("".join(prose), allowed_images))
                prose = []
                fence = match.group(1)
                out.append(line)
            else:
                prose.append(line)
        else:
            out.append(line)  # inside a fenced block everything is shown as text
            if fence_closes(line, fence):
                fence = None
    out.append(_prose("".join(prose), allowed_images))
    return "".join(out)


def fence_for(text: str, char: str = "`") -> str:
    """A code fence longer than any run of `char` inside `text`."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)

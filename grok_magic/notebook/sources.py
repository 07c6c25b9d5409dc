"""Front: what Grok's server-side tools leave under an answer — the numbered Sources list (links
only: never fetched, never embedded) and the code Grok ran — widget-free, for every view."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote, urlsplit

from grok_magic.safety.markdown import escape_markdown, render_html
from grok_magic.safety.redaction import redact

MAX_TITLE_CHARS = 120
MAX_URL_CHARS = 2048
# Characters a URL keeps as they are inside a Markdown link; others (spaces, brackets,
# parentheses, quotes, backslashes, control characters) are percent-encoded.
URL_SAFE = "/:?#@!$&'*+,;=%~-._[]"


def source_links(citations: Iterable) -> list[tuple[str, str, str | None]]:
    """(url, host, title) of each citation that is an absolute http(s) URL, first one first;
    citations may be URL strings (chat completions) or {"url", "title"} dicts (Responses API)."""
    found, seen = [], set()
    for citation in citations or ():
        if isinstance(citation, Mapping):
            url, title = citation.get("url"), citation.get("title")
        else:
            url, title = citation, None
        if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
            continue
        url = redact(url.strip())
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            continue
        if parts.scheme.lower() not in ("http", "https") or not host or url in seen:
            continue
        seen.add(url)
        title = " ".join(redact(title).split()) if isinstance(title, str) else ""
        if len(title) > MAX_TITLE_CHARS:
            title = title[: MAX_TITLE_CHARS - 1] + "…"
        found.append((quote(url, safe=URL_SAFE), host, title or None))
    return found


def sources_markdown(citations: Iterable) -> tuple[str, str] | None:
    """The Sources list as (our Markdown, its plain text), or None when nothing can be linked.
    Host and title are escaped: they are server text, shown as text inside the link."""
    links = source_links(citations)
    if not links:
        return None
    lines, plain = ["**Sources**", ""], ["Sources:"]
    for n, (url, host, title) in enumerate(links, 1):
        label = escape_markdown(f"{host} — {title}" if title else host)
        lines.append(f"{n}. [{label}]({url})")
        plain.append(f"{n}. {host}{f' — {title}' if title else ''} <{url}>")
    return "\n".join(lines), "\n".join(plain)


def sources_html(citations: Iterable) -> tuple[str, str] | None:
    """The Sources list as (safe HTML from the one renderer, plain text), or None."""
    found = sources_markdown(citations)
    if found is None:
        return None
    markdown, plain = found
    return render_html(markdown).replace("class='grok-md", "class='grok-sources grok-md", 1), plain


def code_runs(tool_calls: Sequence) -> str:
    """The code Grok ran on xAI's servers, with what it printed, as plain text ('' if none)."""
    pieces = []
    for call in tool_calls or ():
        if not isinstance(call, Mapping) or call.get("type") == "function" or not call.get("code"):
            continue
        piece = str(call["code"]).rstrip("\n")
        printed = []
        for output in call.get("outputs") or ():
            if isinstance(output, Mapping):
                printed.append(str(output.get("logs") or output.get("output") or ""))
            elif isinstance(output, str):
                printed.append(output)
        printed_text = "".join(printed).rstrip("\n")
        if printed_text:
            piece += "\n# output:\n" + "\n".join(f"# {line}" for line in printed_text.split("\n"))
        pieces.append(piece)
    return redact("\n\n".join(pieces))

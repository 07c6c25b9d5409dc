"""Front: what Grok's server-side tools leave under an answer — the numbered Sources list (links
only: never fetched, never embedded) and the code Grok ran — widget-free, for every view."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

from grok_magic.safety.markdown import escape_markdown, render_html, wrap
from grok_magic.safety.redaction import redact

MAX_TITLE_CHARS = 120
MAX_URL_CHARS = 2048
# Characters a URL keeps as they are inside a Markdown link; others (spaces, brackets,
# parentheses, quotes, backslashes, control characters) are percent-encoded.
URL_SAFE = "/:?#@!$&'*+,;=%~-._[]"
MAX_PATH_CHARS = 48
# A post on X: x.com/<user>/status/<id> (or /i/status/<id> when xAI does not name the author).
X_HOSTS = frozenset({"x.com", "www.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com"})
X_POST = re.compile(r"^/(?P<user>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<id>\d{1,20})(?:/|$)")
TWITTER_EPOCH_MS = 1288834974657  # post ids are snowflakes: (id >> 22) + this, in ms


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
        label = source_label(url, host, title)
        lines.append(f"{n}. [{escape_markdown(label)}]({url})")
        plain.append(f"{n}. {label} <{url}>")
    return "\n".join(lines), "\n".join(plain)


def source_label(url: str, host: str, title: str | None) -> str:
    """What a source is called in the list: "host — title" when xAI gave a title; for a post on
    X, its author (when the URL names one) and the day it was posted (read from the post's id);
    else the host and the start of the path, so twenty links to one site are told apart.

    >>> source_label("https://x.com/i/status/1990530503129391571", "x.com", None)
    'X post of 2025-11-17'
    >>> source_label("https://x.com/xai/status/1990530503129391571", "x.com", None)
    'X post by @xai, 2025-11-17'
    >>> source_label("https://docs.example/guide/start?x=1", "docs.example", None)
    'docs.example/guide/start'
    """
    if title:
        return f"{host} — {title}"
    parts = urlsplit(url)
    post = X_POST.match(parts.path) if host.lower() in X_HOSTS else None
    if post is not None:
        day = post_day(int(post["id"]))
        user = post["user"]
        who = "" if user.lower() == "i" else f" by @{user}"
        when = f" of {day}" if day and not who else f", {day}" if day else ""
        return f"X post{who}{when}"
    path = parts.path.rstrip("/")
    if len(path) > MAX_PATH_CHARS:
        path = path[: MAX_PATH_CHARS - 1] + "…"
    return host + path


def post_day(post_id: int) -> str | None:
    """The UTC day an X post was made, from its snowflake id (None for ids from before 2010)."""
    ms = (post_id >> 22) + TWITTER_EPOCH_MS
    if post_id >> 22 == 0 or ms > 4102444800000:  # not a snowflake, or after 2100
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def sources_html(citations: Iterable) -> tuple[str, str] | None:
    """The Sources list as (safe HTML from the one renderer, plain text), or None."""
    found = sources_markdown(citations)
    if found is None:
        return None
    markdown, plain = found
    return render_html(markdown).replace("class='grok-md", "class='grok-sources grok-md", 1), plain


def code_runs(tool_calls: Sequence) -> list[tuple[str, str]]:
    """(code, what it printed) of each program Grok ran on xAI's servers, key masked."""
    runs = []
    for call in tool_calls or ():
        if not isinstance(call, Mapping) or call.get("type") == "function" or not call.get("code"):
            continue
        printed = []
        for output in call.get("outputs") or ():
            if isinstance(output, Mapping):
                printed.append(str(output.get("logs") or output.get("output") or ""))
            elif isinstance(output, str):
                printed.append(output)
        runs.append((redact(str(call["code"]).rstrip("\n")), redact("".join(printed).rstrip("\n"))))
    return runs


def code_runs_text(runs: Sequence[tuple[str, str]]) -> str:
    """The programs as plain text, each one's output under it as `# ` comment lines."""
    pieces = []
    for code, printed in runs:
        if printed:
            code += "\n# output:\n" + "\n".join(f"# {line}" for line in printed.split("\n"))
        pieces.append(code)
    return "\n\n".join(pieces)


def fenced(text: str, language: str) -> str:
    """`text` as a Markdown code block whose fence no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def code_ran_html(tool_calls: Sequence) -> tuple[str, str] | None:
    """The code Grok ran as (our HTML, its plain text), or None when it ran none: each program
    folded and highlighted by the one safe renderer, and what it printed shown under it."""
    runs = code_runs(tool_calls)
    if not runs:
        return None
    parts, plain = [], []
    for n, (code, printed) in enumerate(runs, 1):
        lines = code.count("\n") + 1
        which = f" {n} of {len(runs)}" if len(runs) > 1 else ""
        summary = (f"Code Grok ran{which} ({lines:,} line{'s' if lines != 1 else ''})"
                   + (" — also in _grok.tool_calls" if n == 1 else ""))
        plain.append(f"[{summary}]" + (f"\nOutput:\n{printed}" if printed else ""))
        parts.append(f"<details class='grok-code-ran'><summary>{html.escape(summary)}</summary>"
                     f"{render_html(fenced(code, 'python'))}</details>")
        if printed:
            parts.append("<div class='grok-code-output'><strong>Output</strong>"
                         f"{render_html(fenced(printed, 'text'), highlight=False)}</div>")
    return wrap("".join(parts)), "\n".join(plain)

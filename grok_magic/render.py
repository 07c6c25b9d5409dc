"""Front: answers as safe Markdown displays, throttled streaming, the token-usage widget."""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Collection

from grok_magic.response import Response, Usage
from grok_magic.safety import FENCE, fence_closes, safe_markdown

UPDATE_INTERVAL = 0.1  # at most ~10 front-end updates a second while streaming
THINKING_INTERVAL = 0.5


class Markdownish:
    """An answer as display data: safe Markdown for notebooks, plain text for terminals."""

    def __init__(self, text: str, allowed_images: Collection[str] = (), note: str = "") -> None:
        self.text = text
        self.allowed_images = allowed_images
        self.note = note

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        markdown = safe_markdown(self.text, self.allowed_images)
        plain = self.text
        if self.note:
            markdown = "\n\n".join(p for p in (markdown, f"*{self.note}*") if p)
            plain = "\n\n".join(p for p in (plain, f"[{self.note}]") if p)
        return {"text/markdown": markdown, "text/plain": plain}

    def __repr__(self) -> str:
        return self.text


def is_terminal(shell) -> bool:
    """Terminal IPython gets plain text and no widgets."""
    return type(shell).__name__ == "TerminalInteractiveShell"


def split_point(text: str) -> int:
    """Where the finished Markdown blocks of `text` end: after the last blank line outside a
    code fence (0 when no block is finished yet)."""
    fence: str | None = None
    point = position = 0
    previous_blank = False
    for line in text.splitlines(keepends=True):
        position += len(line)
        if not line.endswith(("\n", "\r")):
            break  # an unfinished last line never closes a block
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)[0] * len(match.group(1))
            blank = not line.strip()
            if blank and not previous_blank:
                point = position
            previous_blank = blank
        elif fence_closes(line, fence):
            fence = None
            previous_blank = False
    return point


def thinking_text(seconds: float, reasoning_chars: int = 0) -> str:
    """The line shown while a model thinks, before its answer starts."""
    extra = f" · {reasoning_chars:,} characters of reasoning" if reasoning_chars else ""
    return f"⏳ Grok is thinking… {seconds:.0f} s{extra}"


class Pacer:
    """Whether a streaming view may push again: at most once per `interval` seconds."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.last: float | None = None

    def ready(self, interval: float) -> bool:
        now = self.clock()
        if self.last is not None and now - self.last < interval:
            return False
        self.last = now
        return True


class StreamingMarkdown:
    """Shows a streaming answer: finished blocks become fixed outputs, only the tail updates.

    Pushes each finished block once, so the bytes sent to the front end grow linearly with the
    answer rather than quadratically; updates are throttled to ~10 a second.
    """

    def __init__(
        self, *, allowed_images: Collection[str] = (), code_language: str | None = None,
        clock=time.monotonic,
    ) -> None:
        from IPython.display import display

        self._display = display
        self.allowed_images = allowed_images
        self.code_language = code_language
        self.clock = clock
        self.started = clock()
        self._tail = ""  # text not yet committed as a finished block
        self._pending: list[str] = []  # deltas since the last flush (joined only when shown)
        self._any_text = False
        self._pacer = Pacer(clock)
        self._shown = ""
        self._reasoning_chars = 0
        self._handle = display(self._thinking_bundle(), raw=True, display_id=True)
        self.updates = 0

    def _thinking_bundle(self) -> dict:
        text = thinking_text(self.clock() - self.started, self._reasoning_chars)
        return {"text/markdown": f"*{text}*", "text/plain": text}

    def _wrap(self, text: str) -> str:
        if self.code_language is None:
            return text
        return f"```{self.code_language}\n{text}\n```"

    def _push(self, text: str, *, final: bool) -> None:
        shown = self._wrap(text)
        if not final and shown == self._shown:
            return
        bundle = {"text/markdown": safe_markdown(shown, self.allowed_images)}
        if final:
            bundle["text/plain"] = text
        self._handle.update(bundle, raw=True)
        self._shown = shown
        self.updates += 1

    def feed(self, content: str, reasoning: str = "") -> None:
        """Take one stream delta; update the display if enough time has passed."""
        if content:
            self._pending.append(content)
            self._any_text = True
        self._reasoning_chars += len(reasoning)
        if not self._any_text:
            if self._pacer.ready(THINKING_INTERVAL):
                self._handle.update(self._thinking_bundle(), raw=True)
                self.updates += 1
        elif self._pacer.ready(UPDATE_INTERVAL):
            self.flush()

    def flush(self) -> None:
        """Show what has arrived: commit finished blocks, update the tail."""
        tail = self._tail = self._tail + "".join(self._pending)
        self._pending.clear()
        point = split_point(tail) if self.code_language is None else 0
        if point:
            self._push(tail[:point], final=True)
            tail = self._tail = tail[point:]
            # The rest starts a new output (one message, not an empty display plus an update).
            self._shown = self._wrap(tail)
            bundle = {"text/markdown": safe_markdown(self._shown, self.allowed_images)}
            self._handle = self._display(bundle, raw=True, display_id=True)
        elif tail:
            self._push(tail, final=False)

    def finish(self, note: str = "") -> None:
        """The last update: the tail as a complete display (Markdown and plain text)."""
        tail = self._tail = self._tail + "".join(self._pending)
        self._pending.clear()
        if not self._any_text and not note:
            note = "(empty answer)"
        shown = Markdownish(self._wrap(tail), self.allowed_images, note)._repr_mimebundle_()
        shown["text/plain"] = "\n\n".join(p for p in (tail, f"[{note}]" if note else "") if p)
        self._handle.update(shown, raw=True)
        self.updates += 1


class PlainStream:
    """Streaming for terminal IPython: print text as it arrives."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def feed(self, content: str, reasoning: str = "") -> None:
        if content:
            self.stream.write(content)
            self.stream.flush()

    def finish(self, note: str = "") -> None:
        self.stream.write(f"\n[{note}]\n" if note else "\n")
        self.stream.flush()


def reasoning_bundle(reasoning: str) -> dict:
    """Reasoning text, collapsed; escaped, since it is model output."""
    body = html.escape(reasoning)
    summary = f"Reasoning ({len(reasoning):,} characters) — also in _grok.reasoning"
    return {
        "text/html": f"<details class='grok-reasoning'><summary>{summary}</summary>"
        f"<pre style='white-space: pre-wrap'>{body}</pre></details>",
        "text/plain": f"[{summary}]",
    }


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "n/a"
    return f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"


def usage_rows(response: Response, totals: Usage | None, total_cost: float | None) -> list:
    """(label, value) rows of the usage summary."""
    u = response.usage or Usage()
    rows = [
        ("model", response.model or response.requested_model or "?"),
        ("prompt", f"{u.prompt_tokens:,} (cached {u.cached_tokens:,}, image {u.image_tokens:,})"),
        ("completion", f"{u.completion_tokens:,}"),
        ("reasoning", f"{u.reasoning_tokens:,}"),
        ("total", f"{u.total_tokens:,}"),
        ("cost", format_cost(response.cost)),
        ("time", f"{response.elapsed:.1f} s"),
    ]
    if response.usage is None:
        rows[1:5] = [("tokens", "not reported (answer incomplete)")]
    if totals is not None:
        rows.append(("session", f"{totals.total_tokens:,} tokens, {format_cost(total_cost)}"))
    return rows


class UsageDisplay:
    """Token usage after an answer: an ipywidgets widget, plus Markdown and plain text in the
    same bundle so the numbers survive in saved notebooks, nbconvert and GitHub."""

    def __init__(
        self, response: Response, totals: Usage | None = None, total_cost: float | None = None,
        widget: bool = True,
    ) -> None:
        self.rows = usage_rows(response, totals, total_cost)
        self.widget = self._make_widget() if widget else None

    def _make_widget(self):
        import ipywidgets as widgets

        cells = "".join(
            f"<span class='grok-usage-item' data-key='{html.escape(k)}'>"
            f"<b>{html.escape(k)}</b> {html.escape(v)}</span>"
            for k, v in self.rows
        )
        box = widgets.HTML(
            value=f"<div class='grok-usage-items' style='font-size: 0.85em; opacity: 0.8; "
            f"display: flex; flex-wrap: wrap; gap: 0 1.2em'>{cells}</div>"
        )
        box.add_class("grok-usage")
        return box

    @property
    def plain(self) -> str:
        return "tokens · " + " · ".join(f"{k}: {v}" for k, v in self.rows)

    @property
    def markdown(self) -> str:
        cells = " · ".join(f"**{k}** {v}" for k, v in self.rows)
        return f"<sub>{safe_markdown(cells)}</sub>"  # the served model name comes from afar

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/plain": self.plain, "text/markdown": self.markdown}
        if self.widget is not None:
            widget_bundle = self.widget._repr_mimebundle_() or {}
            view = widget_bundle.get("application/vnd.jupyter.widget-view+json")
            if view:
                bundle["application/vnd.jupyter.widget-view+json"] = view
        return bundle

    def __repr__(self) -> str:
        return self.plain

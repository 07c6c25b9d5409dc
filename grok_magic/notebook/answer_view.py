"""What an answer area shows now, for every view: thinking line, finished blocks, live tail, notes.

`AnswerStream` is widget-free and IPython-free. It takes stream events (answer text, reasoning,
tool activity), paces them, splits the Markdown at the parser's block boundaries and renders
each piece through the one safe renderer; a *sink* (the notebook display, the chat panel's
widgets, a terminal) only puts the result on screen.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Protocol

from grok_magic.markdown import fence_for, normalize_newlines, render_html, split_point
from grok_magic.redaction import redact

UPDATE_INTERVAL = 0.1  # at most ~10 front-end updates a second while streaming
THINKING_INTERVAL = 0.5
EMPTY_NOTE = "(empty answer)"


def thinking_text(seconds: float, reasoning_chars: int = 0, activity: str = "") -> str:
    """The line shown while a model thinks, before its answer starts."""
    if activity:
        return f"⏳ {activity} {seconds:.0f} s"
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


class Sink(Protocol):
    """Where an AnswerStream's pieces go. Text is the answer's own (redacted); html is safe."""

    def thinking(self, line: str) -> None:
        """Show or refresh the waiting line (no answer text yet)."""

    def tail(self, html: str, text: str) -> None:
        """Show the live, unfinished end of the answer (replaces the previous tail)."""

    def freeze(self, html: str, text: str) -> None:
        """This piece is finished: show it for good; later tails go to a new place after it."""

    def end(self, html: str, text: str, note: str, kind: str) -> None:
        """The last tail and how the answer ended (`kind`: "", "stopped", "incomplete")."""

    def reasoning(self, text: str) -> None:
        """The model's reasoning, shown folded after the answer."""

    def sources(self, html: str, text: str) -> None:
        """The numbered Sources list under the answer (safe HTML, and its plain twin)."""

    def code_ran(self, text: str) -> None:
        """The code Grok ran on xAI's servers, shown folded like the reasoning."""


class AnswerStream:
    """Drives a sink from stream events. Finished blocks are sent once, so the bytes sent grow
    linearly with the answer; updates are throttled to ~10 a second.

    `freeze_chars`: only freeze a finished part once it is at least this long (the panel keeps
    widget count low); `code_language`: show the whole answer as one code block (JSON answers).
    """

    def __init__(
        self, sink: Sink, *, allowed_images: Collection[str] = (), code_language: str | None = None,
        freeze_chars: int = 1, clock=time.monotonic,
    ) -> None:
        self.sink = sink
        self.allowed_images = frozenset(allowed_images)
        self.code_language = code_language
        self.freeze_chars = freeze_chars
        self.clock = clock
        self.started = clock()
        self.updates = 0
        self._frozen_text = ""  # text already shown for good
        self._tail = ""  # text not yet frozen
        self._pending: list[str] = []  # deltas since the last flush, joined only when shown
        self._reasoning: list[str] = []
        self._reasoning_chars = 0
        self._activity = ""
        self._any_text = False
        self._shown: str | None = None
        self._pacer = Pacer(clock)
        self._ended = False
        sink.thinking(thinking_text(0))

    @property
    def text(self) -> str:
        """All answer text so far (frozen and not)."""
        return redact(self._frozen_text + self._tail + "".join(self._pending))

    # -- inputs ------------------------------------------------------------------------------
    def feed(self, content: str = "", reasoning: str = "") -> None:
        """Take one stream delta; update the sink if enough time has passed."""
        if reasoning:
            self._reasoning.append(reasoning)
            self._reasoning_chars += len(reasoning)
        if content:
            self._pending.append(content)
            self._any_text = True
        if not self._any_text:
            if self._pacer.ready(THINKING_INTERVAL):
                self._show_thinking()
        elif self._pacer.ready(UPDATE_INTERVAL):
            self.flush()

    def take(self, delta) -> None:
        """Take one stream delta: text, reasoning, and a tool activity line when it has one."""
        activity = getattr(delta, "activity", "")
        if activity:
            self.activity(activity)
        self.feed(delta.content, delta.reasoning)

    def activity(self, what: str) -> None:
        """What the model is doing now (e.g. "searching the web: 'query'…"), shown while waiting."""
        self._activity = redact(what)
        if not self._any_text:
            self._show_thinking()

    def _show_thinking(self) -> None:
        self.sink.thinking(thinking_text(self.clock() - self.started, self._reasoning_chars,
                                         self._activity))
        self.updates += 1

    # -- rendering ---------------------------------------------------------------------------
    def _wrap(self, text: str) -> str:
        if self.code_language is None:
            return text
        fence = fence_for(text)
        return f"{fence}{self.code_language}\n{text}\n{fence}"

    def _render(self, text: str, *, highlight: bool) -> str:
        return render_html(self._wrap(text), self.allowed_images, highlight=highlight)

    def flush(self) -> None:
        """Show what has arrived: freeze finished blocks, update the tail."""
        if not self._pending:
            return
        # Redacted as a whole, never piece by piece: a key can arrive split over many deltas.
        # (A key holds no blank line, so it never straddles a frozen block and the tail.)
        self._tail = normalize_newlines(self._tail + "".join(self._pending))
        self._pending.clear()
        tail = self._tail
        point = split_point(tail) if self.code_language is None else 0
        if point and point >= self.freeze_chars:
            done = tail[:point]
            self.sink.freeze(self._render(done, highlight=True), redact(done))
            self._frozen_text += done
            tail = self._tail = tail[point:]
            self._shown = None
        if tail and tail != self._shown:
            # The live tail is not highlighted: it is redrawn ~10 times a second.
            self.sink.tail(self._render(tail, highlight=False), redact(tail))
            self._shown = tail
        self.updates += 1

    def finish(self, note: str = "", kind: str = "", response=None) -> None:
        """The last update: the tail complete, a note on how the answer ended, and under it what
        `response` (a Response) cited and the code Grok ran, then the reasoning."""
        if self._ended:
            return
        self._ended = True
        self._tail = normalize_newlines(self._tail + "".join(self._pending))
        self._pending.clear()
        if not self._any_text and not note:
            note = EMPTY_NOTE
        tail = self._tail
        html = self._render(tail, highlight=True) if tail else ""
        self.sink.end(html, redact(tail), redact(note), kind)
        self.updates += 1
        if response is not None:
            self._tool_results(response)
        if self._reasoning:
            self.sink.reasoning(redact("".join(self._reasoning)))

    def _tool_results(self, response) -> None:
        if not response.citations and not response.tool_calls:
            return
        from grok_magic.notebook.sources import code_runs, sources_html

        found = sources_html(response.citations)
        if found is not None:
            self.sink.sources(*found)
        code = code_runs(response.tool_calls)
        if code:
            self.sink.code_ran(code)

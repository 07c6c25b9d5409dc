"""What an answer area shows now, for every view: thinking line, finished blocks, live tail, notes.

`AnswerStream` is widget-free and IPython-free. It takes stream events (answer text, reasoning,
tool activity), paces them, splits the Markdown at the parser's block boundaries and renders
each piece through the one safe renderer; a *sink* (the notebook display, the chat panel's
widgets, a terminal) only puts the result on screen.
"""

from __future__ import annotations

import contextvars
import html
import re
import threading
import time
from collections.abc import Collection
from typing import Protocol

from grok_magic.safety.markdown import (
    CodeBlock,
    code_blocks,
    fence_for,
    normalize_newlines,
    render_html,
    split_point,
    wrap,
)
from grok_magic.safety.redaction import redact

UPDATE_INTERVAL = 0.1  # at most ~10 front-end updates a second while streaming
THINKING_INTERVAL = 0.5
EMPTY_NOTE = "(empty answer)"
# Display traffic: HTML and text handed to the sink, per character of answer. Frozen blocks
# cost their render and their text (~2.1 for prose, ~2.7 for tables); tail redraws get the rest.
TRAFFIC_BUDGET = 2.75
TRAFFIC_START = 4_096  # bytes any answer may spend on redraws before the budget counts
LIVE_SHARE = 0.2  # redraws always get this much per character, even past the budget
FIRST_RATIO = 1.25  # HTML bytes per character assumed before anything is rendered
MAX_RATIO = 4.0
CALL_BYTES = 64  # the wrapper and note around each piece
LIVE_CHARS = 8_000  # a longer tail shows only its end while it grows...
WINDOW_CHARS = 1_500  # ...this much of it
PARSE_GROWTH = 1.5  # a tail longer than LIVE_CHARS is split again only once this much longer
KEY_MARGIN = 1_024  # characters read before a window's start, so a key cut there is masked
HEAD_CHARS = 1_000  # a fence line or table header longer than this is left out of a window
FENCE_OPENER = re.compile(r" {0,3}(?:`{3,}|~{3,})[^\n]*\n")
TABLE_HEAD = re.compile(r" {0,3}\|?[^\n]*\|[^\n]*\n"  # the header row, then the delimiter row
                        r" {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*\n")
SPACE = re.compile(r"\s")


def window_head(start: str) -> str:
    """What the end of a long block needs above it to render as that block: the fence line of
    a code block, the header and delimiter rows of a table (when short), else nothing.

    >>> window_head("```python\\nx = 1\\n"), window_head("| a |\\n|---|\\n| 1 |"), window_head("text")
    ('```python\\n', '| a |\\n|---|\\n', '')
    """
    start = start[:HEAD_CHARS]
    for pattern in (FENCE_OPENER, TABLE_HEAD):
        match = pattern.match(start)
        if match:
            return match.group()
    return ""


def thinking_text(seconds: float, reasoning_chars: int = 0, activity: str = "") -> str:
    """The line shown while a model thinks, before its answer starts (text only: the views draw
    their activity indicator with CSS, as not every system has an emoji font)."""
    if activity:
        return f"{activity} {seconds:.0f} s"
    extra = f" · {reasoning_chars:,} characters of reasoning" if reasoning_chars else ""
    return f"Grok is thinking… {seconds:.0f} s{extra}"


def as_code(text: str, language: str | None) -> str:
    """`text` as one fenced code block in `language` (None: `text` as it is)."""
    if language is None:
        return text
    fence = fence_for(text)
    return f"{fence}{language}\n{text}\n{fence}"


def pieces(text: str) -> list[tuple[str, CodeBlock | None]]:
    """`text` cut around its top-level code blocks: (piece, its code block or None), so each
    block shows on its own, under its bar.

    >>> [(p, b is not None) for p, b in pieces("Try:\\n\\n```py\\nx\\n```\\nDone")]
    [('Try:\\n\\n', False), ('```py\\nx\\n```\\n', True), ('Done', False)]
    """
    found: list[tuple[str, CodeBlock | None]] = []
    at = 0
    for block in code_blocks(text):
        before = text[at:block.start]
        if before.strip():
            found.append((before, None))
            before = ""
        found.append((before + text[block.start:block.end], block))  # blank lines stay on
        at = block.end
    rest = text[at:]
    if rest.strip() or not found:
        found.append((rest, None))
    elif rest:
        piece, block = found[-1]
        found[-1] = (piece + rest, block)
    return found


def tail_end(parts: list[str], chars: int) -> str:
    """The last `chars` characters of the text in `parts`, without joining all of them."""
    taken, count = [], 0
    for part in reversed(parts):
        taken.append(part)
        count += len(part)
        if count >= chars:
            break
    return "".join(reversed(taken))[-chars:]


def window_text(region: str) -> str:
    """What a window shows of `region` (the redacted end of a long tail): cut well past its
    start, where a key cut by the region would be (redaction masked every key wholly inside
    it), at a line start or else a space if one is near."""
    cut = max(KEY_MARGIN // 2, len(region) - WINDOW_CHARS)
    near = cut + WINDOW_CHARS // 2
    line = region.find("\n", cut, near)
    space = SPACE.search(region, cut, near) if line < 0 else None
    cut = line + 1 if line >= 0 else space.end() if space else cut
    return region[cut:]


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
        """Show the live, unfinished end of the answer (replaces the previous tail). `text` is
        the tail's text when `html` shows all of it, "" when `html` shows only its last part."""

    def freeze(self, html: str, text: str) -> None:
        """This piece is finished: show it for good; later tails go to a new place after it."""

    def end(self, html: str, text: str, note: str, kind: str) -> None:
        """The last tail and how the answer ended (`kind`: "", "stopped", "incomplete")."""

    def reasoning(self, text: str) -> None:
        """The model's reasoning, shown folded after the answer."""

    def sources(self, html: str, text: str) -> None:
        """The numbered Sources list under the answer (safe HTML, and its plain twin)."""

    def code_ran(self, html: str, text: str) -> None:
        """The code Grok ran on xAI's servers (folded, highlighted) and what it printed (shown):
        safe HTML, and its plain twin."""

    def code_block(self, code: str, language: str) -> None:
        """The next frozen piece (or the end) is this code block of the answer: show its bar
        (language, Copy, Insert below) above it. `code` is the block's code, key masked."""


class ServedNotes:
    """The line under an answer that xAI served another model than the one asked for ("grok-4
    is served as grok-4.3 (…)"), each said once per kernel."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def note(self, response) -> str:
        """The note for `response` (a Response), or "" when there is none or it was said."""
        from grok_magic.model_names import served_note

        note = served_note(response.requested_model, response.model)
        if note is None or response.replayed or note in self._told:
            return ""
        self._told.add(note)
        return note


class AnswerStream:
    """Drives a sink from stream events, in time and display bytes linear in the answer.

    Finished blocks are rendered and sent once. The live tail (the unfinished last block) is
    redrawn at most ~10 times a second, and only while the bytes sent stay within
    TRAFFIC_BUDGET per answer character (a redraw resends the whole tail, so redrawing at a
    fixed rate would send bytes in proportion to time, not to the answer). A tail longer than
    LIVE_CHARS (one huge paragraph, code block, list or table) shows only its last
    WINDOW_CHARS, under the fence or table header it needs, and is rendered whole once finished.

    `freeze_chars`: only freeze a finished part once it is at least this long (the panel keeps
    widget count low); `code_language`: show the whole answer as one code block (JSON answers);
    `final`: a last look at the whole answer, its (html, text) to show once complete, or None.
    """

    def __init__(
        self, sink: Sink, *, allowed_images: Collection[str] = (), code_language: str | None = None,
        freeze_chars: int = 1, clock=time.monotonic, final=None,
    ) -> None:
        self.sink = sink
        self.final = final
        self.allowed_images = frozenset(allowed_images)
        self.code_language = code_language
        self.freeze_chars = freeze_chars
        self.clock = clock
        self.started = clock()
        self.updates = 0
        self._frozen: list[str] = []  # text already shown for good
        self._tail: list[str] = []  # text not yet frozen, in pieces (joined when parsed)
        self._tail_chars = 0
        self._pending: list[str] = []  # deltas since the last flush, joined only when shown
        self._reasoning: list[str] = []
        self._reasoning_chars = 0
        self._activity = ""
        self._any_text = False
        self._shown: str | int | None = None  # the tail last drawn (its length, for a window)
        self._parsed = 0  # the tail's length when it was last split
        self._received = 0  # answer characters taken in
        self._sent = 0  # bytes handed to the sink (html and text), frozen pieces and tails
        self._tail_sent = 0
        self._ratio = FIRST_RATIO  # HTML bytes per character of the latest render
        self._pacer = Pacer(clock)
        self._ended = False
        # Orders a Ticker's updates with the answer's: a late tick never draws over the text.
        self._lock = threading.RLock()
        sink.thinking(thinking_text(0))

    @property
    def text(self) -> str:
        """All answer text so far (frozen and not)."""
        return redact("".join(self._frozen) + "".join(self._tail) + "".join(self._pending))

    # -- inputs ------------------------------------------------------------------------------
    def feed(self, content: str = "", reasoning: str = "") -> None:
        """Take one stream delta; update the sink if enough time has passed."""
        with self._lock:
            self._feed(content, reasoning)

    def _feed(self, content: str, reasoning: str) -> None:
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
        with self._lock:
            if activity:
                self.activity(activity)
            self._feed(delta.content, delta.reasoning)

    def activity(self, what: str) -> None:
        """What the model is doing now (e.g. "searching the web: 'query'…"), shown while waiting."""
        with self._lock:
            self._activity = redact(what)
            if not self._any_text:
                self._show_thinking()

    def tick(self) -> bool:
        """Refresh the waiting line's seconds when nothing has arrived for a while (from any
        thread); False, and nothing done, once the answer's text has started or the view ended."""
        with self._lock:
            waiting = not self._any_text and not self._ended
            if waiting and self._pacer.ready(THINKING_INTERVAL):
                self._show_thinking()
            return waiting

    def _show_thinking(self) -> None:
        self.sink.thinking(thinking_text(self.clock() - self.started, self._reasoning_chars,
                                         self._activity))
        self.updates += 1

    # -- the text ----------------------------------------------------------------------------
    def _take_pending(self, final: bool = False) -> bool:
        """Move the deltas into the tail, line breaks as the parser counts them (a CR at the
        end waits for the next delta: it may be half of a CR LF)."""
        new = "".join(self._pending)
        self._pending.clear()
        if new.endswith("\r") and not final:
            new, self._pending = new[:-1], ["\r"]
        new = normalize_newlines(new)
        if new:
            self._tail.append(new)
            self._tail_chars += len(new)
            self._received += len(new)
        return bool(new)

    def _tail_text(self) -> str:
        if len(self._tail) > 1:
            self._tail = ["".join(self._tail)]
        return self._tail[0] if self._tail else ""

    # -- rendering ---------------------------------------------------------------------------
    def _render(self, text: str, *, highlight: bool) -> str:
        return render_html(as_code(text, self.code_language), self.allowed_images, highlight=highlight)

    def _spend(self, html: str, text: str, *, tail: bool = False) -> None:
        size = len(html) + len(text)
        self._sent += size
        if tail:
            self._tail_sent += size

    def flush(self) -> None:
        """Show what has arrived: freeze finished blocks, update the tail."""
        if not self._pending:
            return
        # Redacted as a whole, never piece by piece: a key can arrive split over many deltas.
        # (A key holds no blank line, so it never straddles a frozen block and the tail.)
        if self._take_pending():
            if self.code_language is None and (self._tail_chars <= LIVE_CHARS
                                               or self._tail_chars >= self._parsed * PARSE_GROWTH):
                self._split()
            self._draw_tail()
        self.updates += 1

    def _split(self) -> None:
        """Freeze the finished blocks of the tail (the parse is linear in the tail, so a long
        tail is parsed again only once it has grown by half)."""
        tail = self._tail_text()
        self._parsed = len(tail)
        point = split_point(tail)
        if not point or point < self.freeze_chars:
            return
        done = tail[:point]
        self._ratio = self._freeze(pieces(done)) / len(done)
        self._frozen.append(done)
        self._tail = [tail[point:]]
        self._tail_chars = self._parsed = len(self._tail[0])
        self._shown = None

    def _bar(self, block: CodeBlock | None) -> None:
        if block is not None:
            code = redact(block.code)
            self.sink.code_block(code, block.language)
            self._sent += len(code) + CALL_BYTES

    def _freeze(self, pieces: list[tuple[str, CodeBlock | None]]) -> int:
        """Show `pieces` for good, each code block under its bar; the HTML bytes sent."""
        sent = 0
        for piece, block in pieces:
            self._bar(block)
            html = self._render(piece, highlight=True)
            text = redact(piece)
            self.sink.freeze(html, text)
            self._spend(html, text)
            sent += len(html)
        return sent

    def _allowance(self) -> float:
        """Bytes a tail redraw may use now: what the budget leaves once the tail's own final
        render is set aside, and never less than LIVE_SHARE of the answer."""
        final = (min(max(self._ratio, 1.0), MAX_RATIO) + 1) * self._tail_chars + CALL_BYTES
        budget = TRAFFIC_BUDGET * self._received - self._sent - final
        floor = LIVE_SHARE * self._received - self._tail_sent
        return TRAFFIC_START + max(budget, floor)

    def _draw_tail(self) -> None:
        chars = self._tail_chars
        if not chars:
            return
        window = chars > LIVE_CHARS
        if window and self._shown == chars:
            return
        ratio = min(self._ratio, MAX_RATIO)
        cost = ratio * WINDOW_CHARS + 2 * CALL_BYTES if window else (ratio + 1) * chars + CALL_BYTES
        if cost > self._allowance():
            return
        if window:
            html, text = self._window_html(), ""
            self._shown = chars
        else:
            tail = self._tail_text()
            if tail == self._shown:
                return
            # Not highlighted: Pygments is slow, and the frozen render colours it.
            html, text = self._render(tail, highlight=False), redact(tail)
            self._ratio = len(html) / chars
            self._shown = tail
        self.sink.tail(html, text)
        self._spend(html, text, tail=True)

    def _window_html(self) -> str:
        """The end of a long tail: its last lines, rendered under the fence or table header
        they belong to, after a note on what is not shown yet."""
        region = redact(tail_end(self._tail, WINDOW_CHARS + KEY_MARGIN))
        shown = window_text(region)
        head = window_head(self._tail[0]) if self.code_language is None else ""
        hidden = self._tail_chars - len(shown)
        note = f"… {hidden:,} characters above; the whole block shows once it is complete"
        body = self._render(head + shown, highlight=False)
        return wrap(f"<p class='grok-note'><em>{html.escape(note)}</em></p>{body}")

    def finish(self, note: str = "", kind: str = "", response=None) -> None:
        """The last update: the tail complete, a note on how the answer ended, and under it what
        `response` (a Response) cited and the code Grok ran, then the reasoning."""
        with self._lock:
            self._finish(note, kind, response)

    def _finish(self, note: str, kind: str, response) -> None:
        if self._ended:
            return
        self._ended = True
        self._take_pending(final=True)
        if not self._any_text and not note:
            note = EMPTY_NOTE
        tail = self._tail_text()
        last = ""
        if tail:
            cut = pieces(tail) if self.code_language is None else [(tail, None)]
            self._freeze(cut[:-1])
            last, block = cut[-1]
            self._bar(block)
        html = self._render(last, highlight=True) if last else ""
        text = redact(last)
        html, text = (self.final is not None and text and self.final(text)) or (html, text)
        self.sink.end(html, text, redact(note), kind)
        self._spend(html, text)
        self.updates += 1
        if response is not None:
            show_tool_results(self.sink, response)
        if self._reasoning:
            self.sink.reasoning(redact("".join(self._reasoning)))


def show_tool_results(sink: Sink, response) -> None:
    """What `response` (a Response) cited, and the code Grok ran, under its answer."""
    if not response.citations and not response.tool_calls:
        return
    from grok_magic.notebook.sources import code_ran_html, sources_html

    found = sources_html(response.citations)
    if found is not None:
        sink.sources(*found)
    ran = code_ran_html(response.tool_calls)
    if ran is not None:
        sink.code_ran(*ran)


class Ticker:
    """While an answer has not started (the request is sent, the model thinks and nothing
    arrives), a daemon thread calls `stream.tick()` every `interval` seconds, so the waiting
    line counts the seconds up. It runs in a copy of the starting thread's context (a kernel's
    parent message, so the updates reach that cell). Use as a context manager, or start/stop."""

    def __init__(self, stream: AnswerStream, interval: float = THINKING_INTERVAL) -> None:
        self.stream, self.interval = stream, interval
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Ticker:
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,),
                                        name="grok-thinking", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self.interval) and self.stream.tick():
            pass

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Ticker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

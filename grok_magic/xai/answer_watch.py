"""AnswerWatch: one answer's limits — an overall deadline, a stall deadline, a size cap — kept
where its bytes are read, so a hostile server can neither hang the kernel nor fill its memory."""

from __future__ import annotations

import time

from grok_magic.errors import AnswerLimitError

DEADLINE_SLACK = 0.01  # a read timeout this close to the deadline is the deadline
MIN_READ_TIMEOUT = 0.001  # a socket timeout of 0 would make the socket non-blocking
# A whole JSON answer, or one event of a stream, may hold the answer's text (its characters up
# to 4 bytes each in UTF-8) and reasoning once, and some JSON around them.
BYTES_PER_CHAR = 4
SPARE_BYTES = 1 << 20


def max_body_bytes(max_answer_chars: int) -> int:
    """The most bytes one JSON answer or one stream event may take (4 × max_answer_chars + 1 MiB)."""
    return BYTES_PER_CHAR * max_answer_chars + SPARE_BYTES


class LimitReached(OSError):
    """Raised inside the HTTP stack when an answer passes a limit; the watch says which."""


class AnswerWatch:
    """The clock and byte count of one request, shared by the reader of its socket and the
    reader of its events.

    The deadline counts from sending; the stall deadline counts while bytes arrive but nothing
    progresses: headers still arriving `stall` seconds after their first byte, or a stream whose
    bytes (keep-alive comments, a trickle) complete no event. Silence is the read timeout's
    business. Past either limit the next read raises LimitReached and `reason` says why.

    >>> watch = AnswerWatch(deadline=10, stall=2, max_chars=100, started=0.0, clock=lambda: 11.0)
    >>> watch.read_timeout(5.0)
    Traceback (most recent call last):
    grok_magic.xai.answer_watch.LimitReached: no answer within the 10 s deadline (GrokMagics.deadline)
    """

    def __init__(self, *, deadline: float, stall: float, max_chars: int, body_is_progress: bool = True,
                 started: float | None = None, clock=time.monotonic) -> None:
        self.clock = clock
        self.deadline = deadline
        self.deadline_at = (clock() if started is None else started) + deadline
        self.stall = stall
        self.max_chars = max_chars
        self.max_bytes = max_body_bytes(max_chars)
        self.body_is_progress = body_is_progress  # a JSON body: every byte is progress
        self.bytes_in = 0  # bytes of the answer read so far, headers included
        self.events = 0  # stream events decoded: the stream's reader counts them here
        self.reused = False  # the request went out on a kept-alive connection
        self.headers_read = False
        self.reason: str | None = None
        self._progress_at: float | None = None  # None until the answer's first byte
        self._events_seen = 0
        self._bytes_since_progress = 0

    @classmethod
    def for_settings(cls, settings, *, stream: bool, started: float | None = None) -> AnswerWatch:
        return cls(deadline=settings.deadline, stall=settings.stall_timeout,
                   max_chars=settings.max_answer_chars, body_is_progress=not stream, started=started)

    # -- called by the socket's reader -----------------------------------------------------------
    def read_timeout(self, current: float | None) -> float | None:
        """The socket timeout for the next read: `current` (the read timeout), shortened so that
        the deadline interrupts a silent server; LimitReached once the deadline has passed."""
        left = self.deadline_at - self.clock()
        if left <= 0:
            self.cut(self._deadline_reason())
        if current is None or left < current:
            return max(left, MIN_READ_TIMEOUT)
        return current

    def timed_out(self) -> None:
        """A read timed out: LimitReached if it was the deadline that ran out."""
        if self.clock() >= self.deadline_at - DEADLINE_SLACK:
            self.cut(self._deadline_reason())

    def received(self, count: int) -> None:
        """`count` more bytes arrived; LimitReached past the deadline or the stall deadline."""
        now = self.clock()
        self.bytes_in += count
        if self._progress_at is None or self.events != self._events_seen or (
                self.body_is_progress and self.headers_read):
            self._progress_at, self._events_seen = now, self.events
            self._bytes_since_progress = count
        elif now - self._progress_at > self.stall:
            self.cut(self._stall_reason())
        else:
            # One HTTP chunk is read whole before its events are parsed: bound it as well.
            self._bytes_since_progress += count
            if self._bytes_since_progress > self.max_bytes:
                self.cut(f"the server sent more than {self.max_bytes:,} bytes without completing "
                         "an event of the stream")
        if now > self.deadline_at:
            self.cut(self._deadline_reason())

    def headers_done(self) -> None:
        self.headers_read = True
        self._progress_at, self._events_seen = self.clock(), self.events
        self._bytes_since_progress = 0

    # -- the limits ------------------------------------------------------------------------------
    def cut(self, reason: str) -> None:
        """Record why the answer ends here (the first reason stays) and raise LimitReached."""
        self.reason = self.reason or reason
        raise LimitReached(self.reason)

    def error(self, response=None) -> AnswerLimitError | None:
        """The limit that ended this answer as an error (None if no limit did)."""
        if self.reason is None:
            return None
        return AnswerLimitError(self.reason, response=response)

    def chars_reason(self) -> str:
        return f"the answer was cut off at {self.max_chars:,} characters (GrokMagics.max_answer_chars)"

    def body_reason(self) -> str:
        return (f"the answer was larger than {self.max_bytes:,} bytes and was not read to the end "
                f"(4 bytes per character of GrokMagics.max_answer_chars, and 1 MiB)")

    def _deadline_reason(self) -> str:
        if self.bytes_in:
            return (f"the answer was still arriving at the {self.deadline:,g} s deadline "
                    "(GrokMagics.deadline)")
        return f"no answer within the {self.deadline:,g} s deadline (GrokMagics.deadline)"

    def _stall_reason(self) -> str:
        if not self.headers_read:
            return (f"the server's headers were still arriving {self.stall:,g} s after their first "
                    "byte (GrokMagics.stall_timeout)")
        return (f"the server sent nothing but keep-alives or stray bytes for {self.stall:,g} s "
                "(GrokMagics.stall_timeout)")

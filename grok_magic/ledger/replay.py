"""Replay: an answer from the ledger, streamed back like a live one (nothing is sent, it is free)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from grok_magic.xai.response import Response, Usage
from grok_magic.xai.streams import Delta, EndHooks

if TYPE_CHECKING:
    from grok_magic.ledger.store import Entry

PIECE_CHARS = 64  # replayed text arrives in pieces of this size, so it renders as it streams
MAX_PACE_SECONDS = 2.0  # a paced replay never takes longer than this, however long the answer
PACED_PIECES = 40  # a paced replay arrives in about this many pieces (at most PIECE_CHARS each)


def replayed_response(entry: Entry) -> Response:
    """A fresh Response holding `entry`'s answer; it costs nothing (`original_cost` is what the
    first answer cost)."""
    usage = Usage(**entry.usage_fields) if entry.usage else None
    return Response(
        model=entry.model_served, requested_model=entry.model_asked, id=entry.response_id,
        finish_reason=entry.finish_reason, usage=usage,
        citations=json.loads(entry.citations) if entry.citations else [],
        tool_calls=json.loads(entry.tool_calls) if entry.tool_calls else [],
        replay_of=entry.id, original_cost=entry.cost, request_id=entry.request_id,
    )


def pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def replay_seconds(entry: Entry, pace: float) -> float:
    """How long a replay paced at `pace` seconds takes: the answer's recorded time when shorter,
    never more than MAX_PACE_SECONDS; 0 (or no pace) for at once."""
    if not pace or pace <= 0:
        return 0.0
    limit = min(pace, MAX_PACE_SECONDS)
    recorded = entry.total_s
    return limit if recorded is None or recorded <= 0 else min(recorded, limit)


class ReplayStream(EndHooks):
    """A ledger entry as a stream of Deltas (reasoning, then the answer), like ResponseStream:
    iterate it, `close()` stops it, `on_end` hooks run once.

    Unpaced (the default, as `--each` and Batch API resumes use it) it yields everything at
    once; `paced(seconds)` spreads it over the answer's recorded time, at most `seconds`
    (and MAX_PACE_SECONDS), so a replay in a cell streams in as the live answer did."""

    def __init__(self, entry: Entry, *, sleep=time.sleep, clock=time.monotonic) -> None:
        super().__init__()
        self.entry = entry
        self.response = replayed_response(entry)
        self.request_id = entry.request_id
        self.seconds = 0.0  # how long the whole replay takes (0: at once)
        self._sleep, self._clock = sleep, clock
        self._stopped = threading.Event()
        self._started = False

    def paced(self, seconds: float) -> ReplayStream:
        """Stream over the recorded time, at most `seconds` (0: at once); returns self."""
        self.seconds = replay_seconds(self.entry, seconds)
        return self

    def _pieces(self) -> Iterator[tuple[str, str]]:
        """("reasoning" | "content", piece), each piece at its time when paced."""
        reasoning, answer = self.entry.reasoning or "", self.entry.answer or ""
        total = len(reasoning) + len(answer)
        if not self.seconds or not total:
            yield from (("reasoning", p) for p in pieces(reasoning))
            yield from (("content", p) for p in pieces(answer))
            return
        size = max(1, min(PIECE_CHARS, math.ceil(total / PACED_PIECES)))
        start, done = self._clock(), 0
        for kind, text in (("reasoning", reasoning), ("content", answer)):
            for piece in pieces(text, size):
                wait = start + self.seconds * done / total - self._clock()
                if wait > 0:  # never behind: a slow render takes what time it takes
                    self._sleep(wait)
                done += len(piece)
                yield kind, piece

    def __iter__(self) -> Iterator[Delta]:
        response = self.response
        self._started = True
        try:
            for kind, piece in self._pieces():
                if self._stopped.is_set():
                    break
                if kind == "reasoning":
                    response.add_reasoning(piece)
                    yield Delta(reasoning=piece)
                else:
                    response.add_text(piece)
                    yield Delta(content=piece)
        except (GeneratorExit, KeyboardInterrupt):
            self.end(response.finish(stopped=True))
            raise
        self.end(response.finish(stopped=self._stopped.is_set()))

    def close(self) -> None:
        self._stopped.set()
        if not self._started:
            self.end(self.response.finish(stopped=True))

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

"""Replay: an answer from the ledger, streamed back like a live one (nothing is sent, it is free)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from grok_magic.xai.response import Response, Usage
from grok_magic.xai.streams import Delta, EndHooks

if TYPE_CHECKING:
    from grok_magic.ledger.store import Entry

PIECE_CHARS = 64  # replayed text arrives in pieces of this size, so it renders as it streams


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


class ReplayStream(EndHooks):
    """A ledger entry as a stream of Deltas (reasoning, then the answer), like ResponseStream:
    iterate it, `close()` stops it, `on_end` hooks run once."""

    def __init__(self, entry: Entry) -> None:
        super().__init__()
        self.entry = entry
        self.response = replayed_response(entry)
        self.request_id = entry.request_id
        self._stopped = threading.Event()
        self._started = False

    def __iter__(self) -> Iterator[Delta]:
        response = self.response
        self._started = True
        try:
            for piece in pieces(self.entry.reasoning or ""):
                response.add_reasoning(piece)
                yield Delta(reasoning=piece)
                if self._stopped.is_set():
                    break
            for piece in pieces(self.entry.answer or ""):
                if self._stopped.is_set():
                    break
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

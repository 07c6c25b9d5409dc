"""Server-sent events from raw bytes: a line splitter and an event decoder (no HTTP library)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from grok_magic.errors import APIStatusError, error_for_event

DONE = "[DONE]"


class LineSplitter:
    """Split a byte stream into lines on CR, LF or CRLF, even when a chunk splits them.

    Lines are decoded as UTF-8 only once complete, so a chunk boundary inside a character is
    harmless. Only each new chunk is searched for line ends, and an unfinished line grows in
    place, so one long line (a multi-megabyte event) arriving in small chunks costs linear time.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()  # the unfinished line: never holds a CR or LF
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        if self._pending_cr and chunk:
            # The previous chunk ended in CR: a leading LF here belongs to that CRLF.
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        if b"\r" in chunk:
            if chunk[-1:] == b"\r":
                self._pending_cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pieces = chunk.split(b"\n")
        rest = pieces.pop()
        buffer = self._buffer
        if not pieces:
            buffer += rest
            return []
        if buffer:
            buffer += pieces[0]
            pieces[0] = buffer
            self._buffer = bytearray(rest)
        elif rest:
            buffer += rest
        return [p.decode("utf-8", "replace") for p in pieces]

    def flush(self) -> list[str]:
        """Whatever is left when the stream ends (a last line with no newline)."""
        rest, self._buffer = self._buffer, bytearray()
        return [rest.decode("utf-8", "replace")] if rest else []


class SSEDecoder:
    """Turn lines into event data strings; `data:` lines of one event are joined by newlines."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def line(self, line: str) -> str | None:
        """Feed one line; return an event's data when a blank line completes it."""
        if not line:
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None  # a comment, e.g. a proxy's keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        # event:, id: and retry: carry nothing xAI uses.
        return None

    def end(self) -> str | None:
        """The last event if the stream ended without its blank line."""
        return self.line("")


class StreamState:
    """Whether a stream ended properly: `[DONE]` seen."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False


def iter_sse_data(chunks: Iterable[bytes], state: StreamState | None = None) -> Iterator[str]:
    """Yield each event's data from byte chunks, up to (not including) `[DONE]`.

    >>> list(iter_sse_data([b'data: {"a"', b': 1}\\n\\ndata: [DONE]\\n\\n']))
    ['{"a": 1}']
    """
    splitter, decoder = LineSplitter(), SSEDecoder()
    for chunk in chunks:
        for line in splitter.feed(chunk):
            data = decoder.line(line)
            if data is None:
                continue
            if data == DONE:
                if state is not None:
                    state.done = True
                return
            yield data
    for line in [*splitter.flush(), ""]:
        data = decoder.line(line)
        if data == DONE:
            if state is not None:
                state.done = True
            return
        if data is not None:
            yield data


def iter_sse_json(
    chunks: Iterable[bytes], state: StreamState | None = None, request_id: str | None = None
) -> Iterator[dict]:
    """Yield each event as a dict; an ``{"code", "error"}`` event raises the matching GrokError."""
    loads = json.loads
    for data in iter_sse_data(chunks, state):
        try:
            event = loads(data)
        except ValueError:
            event = None
        if type(event) is not dict:
            raise APIStatusError(
                f"xAI sent a stream event that is not a JSON object: {data[:200]!r}",
                request_id=request_id,
            )
        if "error" in event and "choices" not in event:
            raise error_for_event(event, request_id=request_id)
        yield event

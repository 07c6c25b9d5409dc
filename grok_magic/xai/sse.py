"""Server-sent events from raw bytes: a line splitter and an event decoder (no HTTP library)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator

from grok_magic.errors import AnswerLimitError, APIStatusError, error_for_event

DONE = "[DONE]"
CR, LF = 13, 10
DATA = b"data: "
BLANK = b"\n\n"  # a line end and an empty line: the end of an event


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

    @property
    def unfinished(self) -> int:
        """Bytes of the line not yet ended."""
        return len(self._buffer)


class SSEDecoder:
    """Turn lines into event data strings; `data:` lines of one event are joined by newlines."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self.size = 0  # characters of the event's data gathered so far

    def line(self, line: str) -> str | None:
        """Feed one line; return an event's data when a blank line completes it."""
        if not line:
            if not self._data:
                return None
            data, self._data, self.size = "\n".join(self._data), [], 0
            return data
        if line.startswith(":"):
            return None  # a comment, e.g. a proxy's keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
            self.size += len(value)
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


def iter_sse_data(chunks: Iterable[bytes], state: StreamState | None = None,
                  max_event_bytes: int | None = None) -> Iterator[str]:
    """Yield each event's data from byte chunks, up to (not including) `[DONE]`.

    An event still unfinished past `max_event_bytes` (a line that never ends, data lines with
    no blank line after them) raises AnswerLimitError: the memory a stream takes is bounded.

    Streams whose lines end in LF (all of api.x.ai's) take fast paths: a chunk that is one
    whole `data: ` event (nearly all of them) is decoded with no further parsing; otherwise the
    bytes up to the last blank line are decoded at once and cut at each blank line. At the
    first CR the general line splitter takes over for the rest of the stream. The unfinished
    rest grows in place, so one long event arriving in small chunks still costs linear time.

    >>> list(iter_sse_data([b'data: {"a"', b': 1}\\n\\ndata: [DONE]\\n\\n']))
    ['{"a": 1}']
    """
    pending = bytearray()  # after the last blank line: an unfinished event, never a CR
    limit = max_event_bytes if max_event_bytes is not None else -1
    chunks = iter(chunks)
    for chunk in chunks:
        if CR in chunk:  # an int: bytes find it far faster than b"\r"
            rest = _general(itertools.chain((bytes(pending), chunk), chunks), max_event_bytes)
            break
        if not pending and chunk.find(LF) == len(chunk) - 2 and chunk[-1] == LF \
                and chunk.startswith(DATA):
            data = chunk[6:-2].decode("utf-8", "replace")
            if data == DONE:
                _mark_done(state)
                return
            yield data
            continue
        if pending:
            searched = len(pending) - 1  # a blank line may straddle the two
            pending += chunk
            if pending.find(BLANK, searched) < 0:
                if len(pending) > limit >= 0:
                    raise _too_large(limit)
                continue
            end = pending.rfind(BLANK)
            text = pending[:end].decode("utf-8", "replace")
            del pending[: end + 2]
        else:
            end = chunk.rfind(BLANK)
            if end < 0:
                pending += chunk
                if len(pending) > limit >= 0:
                    raise _too_large(limit)
                continue
            text = chunk[:end].decode("utf-8", "replace")
            pending += chunk[end + 2 :]
            if len(pending) > limit >= 0:
                raise _too_large(limit)
        for data in _blocks_data(text):
            if data == DONE:
                _mark_done(state)
                return
            yield data
    else:
        rest = [_block_data(pending.decode("utf-8", "replace"))] if pending else []
    for data in rest:
        if data == DONE:
            _mark_done(state)
            return
        if data is not None:
            yield data


def _too_large(limit: int) -> AnswerLimitError:
    return AnswerLimitError(f"one event of the stream passed {limit:,} bytes without ending")


def _mark_done(state: StreamState | None) -> None:
    if state is not None:
        state.done = True


def _blocks_data(text: str) -> list[str]:
    """The events' data in `text`, a run of whole events (each cut off by a blank line)."""
    found = []
    for block in text.split("\n\n"):
        if block[:6] == "data: " and "\n" not in block:
            found.append(block[6:])
        elif (data := _block_data(block)) is not None:
            found.append(data)
    return found


def _block_data(block: str) -> str | None:
    """The data of the lines between two blank lines (a blank line only ever leads or ends
    them, so they hold at most one event)."""
    decoder = SSEDecoder()
    for line in block.split("\n"):
        if line:
            decoder.line(line)
    return decoder.end()


def _general(chunks: Iterable[bytes], max_event_bytes: int | None = None) -> Iterator[str]:
    """Any line ends (CR, LF, CRLF, split anywhere), line by line: each event's data."""
    splitter, decoder = LineSplitter(), SSEDecoder()
    limit = max_event_bytes if max_event_bytes is not None else -1
    for chunk in chunks:
        for line in splitter.feed(chunk):
            data = decoder.line(line)
            if data is not None:
                yield data
        if splitter.unfinished + decoder.size > limit >= 0:
            raise _too_large(limit)
    for line in [*splitter.flush(), ""]:
        data = decoder.line(line)
        if data is not None:
            yield data


_SCAN = json.JSONDecoder().scan_once  # the C scanner that json.loads wraps (as json.loads does)


def _loads(data: str) -> object:
    """`json.loads(data)` without its per-call wrapper, which costs as much as scanning a small
    event: the same C scanner, and whatever it cannot take whole (leading or trailing space,
    garbage) goes through json.loads itself.

    >>> _loads('{"a": [1, 2]}'), _loads(' {"a": 1} ')
    ({'a': [1, 2]}, {'a': 1})
    """
    try:
        value, end = _SCAN(data, 0)
    except (StopIteration, ValueError):
        return json.loads(data)
    return value if end == len(data) else json.loads(data)


def iter_sse_json(
    chunks: Iterable[bytes], state: StreamState | None = None, request_id: str | None = None,
    max_event_bytes: int | None = None,
) -> Iterator[dict]:
    """Yield each event as a dict; an ``{"code", "error"}`` event raises the matching GrokError
    (an event past `max_event_bytes`: AnswerLimitError, see iter_sse_data)."""
    loads = _loads
    for data in iter_sse_data(chunks, state, max_event_bytes):
        try:
            event = loads(data)
        except (ValueError, RecursionError):  # malformed, or nested past Python's limit
            event = None
        if type(event) is not dict:
            raise APIStatusError(
                f"xAI sent a stream event that is not a JSON object: {data[:200]!r}",
                request_id=request_id,
            )
        if "error" in event and "choices" not in event:
            raise error_for_event(event, request_id=request_id)
        yield event

"""The answer streams every endpoint shares: `Delta` (what one event added), `EndHooks`
(callbacks run once when an answer ends, and `until_done`), and `ResponseStream`, a chat
completions stream read from SSE under the answer's limits. The Responses API's stream
(responses_events.ResponsesStream) builds on these; this module knows none of its subclasses."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from grok_magic.errors import AnswerLimitError, GrokError, StreamInterruptedError
from grok_magic.settings import DEADLINE, MAX_ANSWER_CHARS, STALL_TIMEOUT
from grok_magic.xai.answer_watch import AnswerWatch
from grok_magic.xai.response import Response
from grok_magic.xai.sse import StreamState, iter_sse_json

COMPACT_EVERY = 4096  # stream events between joins of the answer's pieces (Response.compact)
# After `[DONE]` only the end of the chunked body should follow; wait this long for it so the
# connection goes back to the pool, rather than dropping it.
DRAIN_TIMEOUT = 1.0
DRAIN_MAX_BYTES = 64 * 1024

@dataclass(slots=True)
class Delta:
    """What one stream chunk added: answer text and/or reasoning text (both may be empty)."""

    content: str = ""
    reasoning: str = ""


class EndHooks:
    """What every answer stream shares: callbacks run once when the answer ends, and
    `until_done`. Subclasses iterate as Deltas and call `end(response)` exactly when it ends."""

    response: Response

    def __init__(self) -> None:
        self._on_end: list[Callable[[Response], None]] = []
        self._ended = False

    def on_end(self, callback: Callable[[Response], None]) -> None:
        """Call `callback(response)` once when the answer ends: complete, stopped or cut off."""
        self._on_end.append(callback)
        if self._ended:
            callback(self.response)

    def end(self, response: Response) -> Response:
        """Run the end callbacks (once) and return `response`: a subclass calls it exactly
        when its answer ends."""
        if not self._ended:
            self._ended = True
            for callback in self._on_end:
                callback(response)
        return response

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    def _release(self) -> None:
        """Let go of what the stream holds (a connection)."""

    def __iter__(self) -> Iterator[Delta]:
        raise NotImplementedError

    def until_done(self, on_delta: Callable[[Delta], None] | None = None) -> Response:
        """Consume the stream (calling `on_delta` for each piece) and return the Response."""
        for delta in self:
            if on_delta is not None:
                on_delta(delta)
        return self.response


class ResponseStream(EndHooks):
    """A streaming answer: iterate for Deltas; `.response` accumulates; `close()` stops it.

    Safe to `close()` from another thread (the chat panel's Stop button). The answer's limits
    (Settings.max_answer_chars, deadline, stall_timeout) end it as incomplete, with an
    AnswerLimitError that keeps what arrived.
    """

    def __init__(
        self, http_response, response: Response, request_id: str | None,
    ) -> None:
        super().__init__()
        self._http = http_response
        self.response = response
        self.request_id = response.request_id = request_id
        self._stopped = threading.Event()
        self._started = False
        self._state = StreamState()
        self._watch = getattr(http_response, "answer_watch", None) or AnswerWatch(
            deadline=DEADLINE, stall=STALL_TIMEOUT, max_chars=MAX_ANSWER_CHARS,
            body_is_progress=False)

    def __iter__(self) -> Iterator[Delta]:
        import requests

        self._started = True
        response, watch = self.response, self._watch
        fold, stopped = self.folder(), self._stopped.is_set
        size, max_chars = 0, watch.max_chars
        try:
            chunks = self._http.iter_content(chunk_size=None)
            for chunk in iter_sse_json(chunks, self._state, self.request_id, watch.max_bytes):
                watch.events += 1  # progress: the stall deadline starts again
                if not watch.events % COMPACT_EVERY:
                    response.compact(COMPACT_EVERY)
                delta = fold(chunk)
                yield delta
                if stopped():
                    break
                size += len(delta.content) + len(delta.reasoning)
                if size >= max_chars:
                    raise AnswerLimitError(watch.chars_reason(), request_id=self.request_id)
            else:
                if self._state.done:
                    self._drain(chunks)
        except GrokError as err:  # an error event inside the stream
            if stopped():
                self.end(response.finish(stopped=True))
                return
            response.error = err.paragraph()
            err.response = self.end(response.finish(partial=True))
            raise
        except (GeneratorExit, KeyboardInterrupt):
            # Ctrl-C / kernel interrupt / the caller let go: drop the connection, keep the text.
            self._release()
            self.end(response.finish(stopped=True))
            raise
        except Exception as exc:
            if stopped():  # close() from another thread shut the socket under the reader
                self.end(response.finish(stopped=True))
                return
            if isinstance(exc, requests.RequestException | OSError):
                raise self._interrupted(exc) from None
            raise
        finally:
            self._release()
        if stopped():
            self.end(response.finish(stopped=True))
        elif self._state.done or response.finish_reason is not None:
            response.finish()
            self.end(response)
        else:
            raise self._interrupted(None)

    def folder(self) -> Callable[[dict], Delta]:
        """What folds one decoded event into the response and says what it added."""
        add_chunk = self.response.add_chunk

        def fold(chunk: dict) -> Delta:
            return Delta(*add_chunk(chunk))

        return fold

    def _drain(self, chunks: Iterator[bytes]) -> None:
        """Read the end of the body after `[DONE]` so the connection can be reused."""
        sock = _socket_of(self._http)
        if sock is None:
            return
        old_timeout = sock.gettimeout()
        try:
            sock.settimeout(DRAIN_TIMEOUT)
            left = DRAIN_MAX_BYTES
            for chunk in chunks:
                left -= len(chunk)
                if left < 0:
                    return
        except Exception:  # noqa: BLE001 - the answer is complete; the connection is just closed
            return
        finally:
            try:
                sock.settimeout(old_timeout)
            except OSError:
                pass

    def _interrupted(self, exc: BaseException | None) -> StreamInterruptedError | AnswerLimitError:
        limit = self._watch.error()
        if limit is not None:  # a limit closed the connection under the reader
            self.response.error = limit.paragraph()
            limit.request_id = self.request_id
            limit.response = self.end(self.response.finish(partial=True))
            return limit
        if exc is None:
            reason = "the stream ended before the answer was complete"
        elif "timed out" in str(exc).lower():
            reason = "no data arrived within the read timeout"
        else:
            reason = "the connection broke mid-answer"
        self.response.error = f"The answer was cut off: {reason}."
        return StreamInterruptedError(
            reason, response=self.end(self.response.finish(partial=True)), request_id=self.request_id
        )

    def close(self) -> None:
        """Stop the answer: the connection is dropped and the partial text kept."""
        self._stopped.set()
        if not self._started:
            self.end(self.response.finish(stopped=True))
            self._release()
            return
        sock = _socket_of(self._http)
        if sock is not None:
            try:  # wakes a reader blocked in recv() in another thread
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def _release(self) -> None:
        try:
            self._http.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may itself fail
            pass


def _socket_of(http_response) -> socket.socket | None:
    raw = getattr(http_response, "raw", None)
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:  # the socket under http.client's file: a SocketIO, or a WatchedReader
        reader = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(reader, "_sock", None) or getattr(reader, "sock", None)
    return sock if isinstance(sock, socket.socket) else None

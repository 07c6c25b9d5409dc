"""GrokClient: xAI's chat completions — complete(), stream() as a ResponseStream — and its
Responses API — respond(), respond_stream() — with list_models() and prices."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from grok_magic.answer_watch import AnswerWatch
from grok_magic.errors import (
    AnswerLimitError,
    APIStatusError,
    AuthenticationError,
    GoneError,
    GrokError,
    StreamInterruptedError,
)
from grok_magic.messages import ENDPOINTS
from grok_magic.pricing import Price, PriceBook, price_from_language_model
from grok_magic.redaction import mask_url_credentials, redact
from grok_magic.response import Response
from grok_magic.settings import DEADLINE, MAX_ANSWER_CHARS, STALL_TIMEOUT, Settings
from grok_magic.sse import StreamState, iter_sse_json
from grok_magic.transport import Transport, request_id_of, unexpected_body

COMPACT_EVERY = 4096  # stream events between joins of the answer's pieces (Response.compact)
# After `[DONE]` only the end of the chunked body should follow; wait this long for it so the
# connection goes back to the pool, rather than dropping it.
DRAIN_TIMEOUT = 1.0
DRAIN_MAX_BYTES = 64 * 1024
PRICE_LIST_TIMEOUT = 5.0  # seconds the price list may take (an answer waits for its price)
LIVE_SEARCH_HINT = (
    "Live Search (search_parameters) is retired; use --search web or --search x, which run "
    "xAI's search tools through the Responses API."
)



@dataclass(frozen=True)
class ModelInfo:
    """A model the key can use: id, aliases, whether it takes images, prices (USD per 1 M)."""

    id: str
    aliases: tuple[str, ...] = ()
    image_input: bool | None = None
    price: Price | None = None

    @classmethod
    def from_language_model(cls, data: Mapping) -> ModelInfo:
        price = price_from_language_model(data)
        return cls(
            id=redact(str(data["id"])),
            aliases=tuple(redact(a) for a in _listed(data.get("aliases")) if isinstance(a, str)),
            image_input="image" in (data.get("input_modalities") or ()),
            price=price,
        )


def _listed(value: object) -> list | tuple:
    return value if isinstance(value, list | tuple) else ()


@dataclass(slots=True)
class Delta:
    """What one stream chunk added: answer text and/or reasoning text (both may be empty)."""

    content: str = ""
    reasoning: str = ""


class EndHooks:
    """What every answer stream shares: callbacks run once when the answer ends, and
    `until_done`. Subclasses iterate as Deltas and call `_end(response)` exactly when it ends."""

    response: Response

    def __init__(self) -> None:
        self._on_end: list[Callable[[Response], None]] = []
        self._ended = False

    def on_end(self, callback: Callable[[Response], None]) -> None:
        """Call `callback(response)` once when the answer ends: complete, stopped or cut off."""
        self._on_end.append(callback)
        if self._ended:
            callback(self.response)

    def _end(self, response: Response) -> Response:
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
        fold, stopped = self._folder(), self._stopped.is_set
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
                self._end(response.finish(stopped=True))
                return
            response.error = err.paragraph()
            err.response = self._end(response.finish(partial=True))
            raise
        except (GeneratorExit, KeyboardInterrupt):
            # Ctrl-C / kernel interrupt / the caller let go: drop the connection, keep the text.
            self._release()
            self._end(response.finish(stopped=True))
            raise
        except Exception as exc:
            if stopped():  # close() from another thread shut the socket under the reader
                self._end(response.finish(stopped=True))
                return
            if isinstance(exc, requests.RequestException | OSError):
                raise self._interrupted(exc) from None
            raise
        finally:
            self._release()
        if stopped():
            self._end(response.finish(stopped=True))
        elif self._state.done or response.finish_reason is not None:
            response.finish()
            self._end(response)
        else:
            raise self._interrupted(None)

    def _folder(self) -> Callable[[dict], Delta]:
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
            limit.response = self._end(self.response.finish(partial=True))
            return limit
        if exc is None:
            reason = "the stream ended before the answer was complete"
        elif "timed out" in str(exc).lower():
            reason = "no data arrived within the read timeout"
        else:
            reason = "the connection broke mid-answer"
        self.response.error = f"The answer was cut off: {reason}."
        return StreamInterruptedError(
            reason, response=self._end(self.response.finish(partial=True)), request_id=self.request_id
        )

    def close(self) -> None:
        """Stop the answer: the connection is dropped and the partial text kept."""
        self._stopped.set()
        if not self._started:
            self._end(self.response.finish(stopped=True))
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


@dataclass
class GrokClient(Transport):
    """A client for xAI's chat completions API.

    >>> client = GrokClient()                      # key from XAI_API_KEY or .env
    >>> body = {"model": "grok-4.3", "messages": [{"role": "user", "content": "Hi"}]}
    >>> client.complete(body).text                  # doctest: +SKIP
    """

    _prices: PriceBook | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._prices = PriceBook(self._models_for_prices)

    def __getstate__(self) -> dict:
        # Pickled without the key (Settings drops it) and without the live HTTP session.
        return {"settings": self.settings, "sleep": self.sleep}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    @classmethod
    def from_env(cls, api_key: str | None = None, **overrides) -> GrokClient:
        return cls(Settings.load(api_key=api_key, **overrides))

    def complete(self, body: Mapping, *, timeout: float | None = None,
                 headers: Mapping[str, str] | None = None) -> Response:
        """Send a request and return the whole answer (the body's `stream` is forced off).
        `headers` go with it (e.g. `x-grok-conv-id`, the prompt-cache key)."""
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        response = Response(requested_model=body.get("model"))
        http = self._post(ENDPOINTS["chat"], body, stream=False, timeout=timeout, headers=headers)
        data = self._read_json(http, "the answer", capped=True)
        if not isinstance(data, dict):
            raise APIStatusError("xAI sent an answer that is not a chat completion",
                                 status=http.status_code, request_id=request_id_of(http))
        response = Response.from_completion(
            data, requested_model=body.get("model"), started=response.started,
            request_id=request_id_of(http),
        )
        self.fill_price(response)
        return response

    def stream(self, body: Mapping, *, timeout: float | None = None,
               headers: Mapping[str, str] | None = None) -> ResponseStream:
        """Send a streaming request; iterate the result for Deltas, or call `.until_done()`."""
        body = dict(body, stream=True, stream_options={"include_usage": True})
        response = Response(requested_model=body.get("model"))
        http = self._post(ENDPOINTS["chat"], body, stream=True, timeout=timeout, headers=headers)
        return self._open_stream(ResponseStream, http, response)

    def respond(self, body: Mapping, *, timeout: float | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        """Send a `/v1/responses` request (see responses_api.responses_body) and return the
        whole answer; a failed or incomplete one raises, its text kept on `err.response`."""
        from grok_magic.responses_events import decode_json

        body = {k: v for k, v in body.items() if k != "stream"}
        started = Response().started
        http = self._post(ENDPOINTS["responses"], body, stream=False, timeout=timeout,
                          headers=headers)
        data = self._read_json(http, "the answer", capped=True)
        if not isinstance(data, dict):
            raise APIStatusError("xAI sent an answer that is not a response object",
                                 status=http.status_code, request_id=request_id_of(http))
        response = decode_json(data, request_id=request_id_of(http),
                               requested_model=body.get("model"), started=started).response
        self.fill_price(response)
        return response

    def respond_stream(self, body: Mapping, *, timeout: float | None = None,
                       headers: Mapping[str, str] | None = None) -> ResponseStream:
        """Send a streaming `/v1/responses` request; iterate the result for ResponsesDeltas
        (text, reasoning, tool activity), or call `.until_done()`."""
        from grok_magic.responses_api import ResponsesStream

        body = dict(body, stream=True)
        response = Response(requested_model=body.get("model"))
        http = self._post(ENDPOINTS["responses"], body, stream=True, timeout=timeout,
                          headers=headers)
        return self._open_stream(ResponsesStream, http, response)

    def _post(self, path: str, body: Mapping, *, stream: bool, timeout: float | None,
              headers: Mapping[str, str] | None = None):
        try:
            return self._send("POST", path, body, stream=stream, timeout=timeout, headers=headers)
        except GoneError as err:
            if path == ENDPOINTS["responses"]:  # what a 410 there means, and what replaces it
                err.hint = LIVE_SEARCH_HINT
            raise

    def _open_stream(self, kind: type[ResponseStream], http, response: Response) -> ResponseStream:
        if "text/event-stream" not in (http.headers.get("content-type") or "").lower():
            raise unexpected_body(http, "an event stream")
        stream = kind(http, response, request_id_of(http))
        stream.on_end(self.fill_price)  # first, so the cost is known to every later listener
        return stream

    def get_json(self, path: str, *, timeout: float | None = 30.0,
                 retries: int | None = None) -> object:
        http = self._send("GET", path, timeout=timeout, retries=retries)
        return self._read_json(http, f"the answer to {path}")

    def list_models(self) -> list[ModelInfo]:
        """Models this key can use, with image support and prices when xAI says them.

        From `/v1/language-models`; if that fails, the bare ids from `/v1/models`.
        """
        try:
            data = self.get_json("/language-models")
            models = data.get("models") if isinstance(data, dict) else None
            if isinstance(models, list):
                return [ModelInfo.from_language_model(m) for m in models]
        except AuthenticationError:
            raise
        except APIStatusError:
            pass
        data = self.get_json("/models")
        models = data.get("data") if isinstance(data, dict) else None
        return [ModelInfo(id=m["id"]) for m in models or () if isinstance(m, dict) and "id" in m]

    @property
    def prices(self) -> PriceBook:
        """xAI's price list: kept a day beside the ledger, fetched on first need (pricing.py)."""
        return self._prices

    def price_for(self, model: str | None) -> Price | None:
        """The live price of `model` or an alias of it (xAI's price list), else None."""
        return self._prices.get(model)

    def _models_for_prices(self) -> list[ModelInfo]:
        """xAI's price list for the PriceBook; [] when it cannot be had (no key, offline, …):
        one short try, so that an answer never waits long for its price."""
        try:
            data = self.get_json("/language-models", timeout=PRICE_LIST_TIMEOUT, retries=0)
        except GrokError:
            return []
        models = data.get("models") if isinstance(data, dict) else None
        return [ModelInfo.from_language_model(m) for m in models or ()
                if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def fill_price(self, response: Response) -> None:
        """Set the price of an answer from xAI's price list (`price`, and `price_source`, which
        the usage widget shows): one that came without xAI's own cost figure
        (`cost_in_usd_ticks`), or ended without usage (priced by estimate), is priced from the
        list (fetched if need be); one with an exact cost and cached tokens gets the price its
        cache saving is estimated from, from a list already at hand (nothing is fetched for it).
        Without a list, the built-in table prices the answer (`Response.priced`)."""
        usage = response.usage
        if response.price is not None or response.replay_of is not None:
            return
        if usage is None and response.prompt_estimate is None:
            return
        exact = usage is not None and usage.cost_in_usd_ticks is not None
        if exact and not usage.cached_tokens:
            return
        for model in dict.fromkeys((response.model, response.requested_model)):
            found = self._prices.lookup(model, fetch=not exact)
            if found is not None:
                response.price, response.price_source = found
                return

    def __repr__(self) -> str:
        key = "set" if self.settings.has_key else "missing"
        return f"GrokClient(base_url={mask_url_credentials(self.settings.base_url)!r}, key={key})"

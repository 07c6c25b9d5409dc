"""GrokClient: one keep-alive HTTP session to xAI; complete(), stream(), list_models(), retries."""

from __future__ import annotations

import email.utils
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from grok_magic import __version__
from grok_magic.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    GrokError,
    StreamInterruptedError,
    error_for_status,
    redact,
)
from grok_magic.response import Price, Response
from grok_magic.settings import Settings
from grok_magic.sse import StreamState, iter_sse_json

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
USER_AGENT = f"grok_magic/{__version__}"


@dataclass(frozen=True)
class ModelInfo:
    """A model the key can use: id, aliases, whether it takes images, prices (USD per 1 M)."""

    id: str
    aliases: tuple[str, ...] = ()
    image_input: bool | None = None
    price: Price | None = None

    @classmethod
    def from_language_model(cls, data: Mapping) -> ModelInfo:
        def usd_per_million(key: str) -> float | None:
            # xAI quotes integer USD cents per 100 M tokens: USD per 1 M = value / 10,000.
            value = data.get(key)
            return None if value is None else value / 10_000

        price = None
        if data.get("prompt_text_token_price") is not None:
            price = Price(
                input=usd_per_million("prompt_text_token_price") or 0.0,
                cached_input=usd_per_million("cached_prompt_text_token_price") or 0.0,
                output=usd_per_million("completion_text_token_price") or 0.0,
                image_input=usd_per_million("prompt_image_token_price"),
            )
        return cls(
            id=data["id"],
            aliases=tuple(data.get("aliases") or ()),
            image_input="image" in (data.get("input_modalities") or ()),
            price=price,
        )


@dataclass
class Delta:
    """What one stream chunk added: answer text and/or reasoning text (both may be empty)."""

    content: str = ""
    reasoning: str = ""


def retry_delay(attempt: int, headers: Mapping | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): the server's word, else backoff."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if "retry-after-ms" in headers:
        try:
            return min(max(float(headers["retry-after-ms"]) / 1000, 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    if "retry-after" in headers:
        value = headers["retry-after"]
        try:
            return min(max(float(value), 0.0), MAX_RETRY_AFTER)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)
    jitter = 1 - 0.25 * random.random()
    return min(0.5 * 2**attempt, MAX_RETRY_DELAY) * jitter


class ResponseStream:
    """A streaming answer: iterate for Deltas; `.response` accumulates; `close()` stops it.

    Safe to `close()` from another thread (the chat panel's Stop button).
    """

    def __init__(self, http_response, response: Response, request_id: str | None) -> None:
        self._http = http_response
        self.response = response
        self.request_id = request_id
        self._stopped = threading.Event()
        self._state = StreamState()

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    def __iter__(self) -> Iterator[Delta]:
        response = self.response
        try:
            chunks = self._http.iter_content(chunk_size=None)
            for chunk in iter_sse_json(chunks, self._state, self.request_id):
                content, reasoning = response.add_chunk(chunk)
                yield Delta(content, reasoning)
                if self._stopped.is_set():
                    break
        except GrokError as err:  # an error event inside the stream
            err.response = response.finish(partial=True)
            raise
        except BaseException as exc:
            if self._stopped.is_set() and not isinstance(exc, KeyboardInterrupt):
                response.finish(stopped=True)
                return
            if isinstance(exc, GeneratorExit | KeyboardInterrupt):
                # Ctrl-C / kernel interrupt: drop the connection at once and keep what arrived.
                self._release()
                response.finish(stopped=True)
                raise
            self._release()
            raise self._interrupted(exc) from None
        finally:
            self._release()
        if self._stopped.is_set():
            response.finish(stopped=True)
        elif self._state.done or response.finish_reason is not None:
            response.finish()
        else:
            raise self._interrupted(None)

    def _interrupted(self, exc: BaseException | None) -> StreamInterruptedError:
        import requests

        if isinstance(exc, requests.exceptions.ConnectionError) and "timed out" in str(exc):
            reason = "no data arrived within the read timeout"
        elif exc is None:
            reason = "the stream ended before the answer was complete"
        else:
            reason = "the connection broke mid-answer"
        return StreamInterruptedError(
            reason, response=self.response.finish(partial=True), request_id=self.request_id
        )

    def until_done(self, on_delta: Callable[[Delta], None] | None = None) -> Response:
        """Consume the stream (calling `on_delta` for each piece) and return the Response."""
        for delta in self:
            if on_delta is not None:
                on_delta(delta)
        return self.response

    def close(self) -> None:
        """Stop the answer: the connection is dropped and the partial text kept."""
        self._stopped.set()
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
    if sock is None:
        fp = getattr(raw, "_fp", None)
        sock = getattr(getattr(getattr(fp, "fp", None), "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


@dataclass
class GrokClient:
    """A client for xAI's chat completions API.

    >>> client = GrokClient()                      # key from XAI_API_KEY or .env
    >>> body = {"model": "grok-4", "messages": [{"role": "user", "content": "Hi"}]}
    >>> client.complete(body).text                  # doctest: +SKIP
    """

    settings: Settings = field(default_factory=Settings.load)
    sleep: Callable[[float], None] = time.sleep
    _session: object = field(default=None, repr=False)

    @classmethod
    def from_env(cls, api_key: str | None = None, **overrides) -> GrokClient:
        return cls(Settings.load(api_key=api_key, **overrides))

    @property
    def session(self):
        if self._session is None:
            import requests  # imported on first use so that loading the extension stays fast

            self._session = requests.Session()
            self._session.headers["User-Agent"] = USER_AGENT
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- requests ----------------------------------------------------------------------------
    def _send(
        self, method: str, path: str, body: Mapping | None = None, *,
        stream: bool = False, timeout: float | None = None,
    ):
        """Send with bounded retries; return a 2xx requests.Response or raise a GrokError."""
        import requests

        key = self.settings.require_key()
        url = f"{self.settings.base_url}{path}"
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if stream:
            headers["Accept"] = "text/event-stream"
        read_timeout = timeout if timeout is not None else self.settings.read_timeout
        timeouts = (min(self.settings.connect_timeout, read_timeout), read_timeout)
        attempt = 0
        while True:
            try:
                http = self.session.request(
                    method, url, data=data, headers=headers, stream=stream, timeout=timeouts
                )
            except requests.exceptions.ConnectTimeout as exc:
                error: GrokError = APITimeoutError(
                    f"could not connect to {self.settings.base_url} within "
                    f"{timeouts[0]:g} s ({type(exc).__name__})"
                )
                retry_headers = None
            except requests.exceptions.ReadTimeout:
                # Not retried: the server has the request and may be working on it.
                raise APITimeoutError(
                    f"no answer from {self.settings.base_url} within {read_timeout:g} s"
                ) from None
            except requests.exceptions.ConnectionError as exc:
                error = APIConnectionError(
                    f"could not connect to {self.settings.base_url}: {_short_reason(exc)}"
                )
                retry_headers = None
            else:
                if http.status_code < 400:
                    return http
                request_id = http.headers.get("x-request-id") or http.headers.get("x-trace-id")
                error = error_for_status(
                    http.status_code, http.content, request_id=request_id, key=key
                )
                retry_headers = http.headers
                http.close()
                if not (http.status_code in RETRY_STATUSES and getattr(error, "retryable", True)):
                    raise error from None
            if attempt >= self.settings.max_retries:
                if attempt:
                    error.message += f" (after {attempt + 1} attempts)"
                raise error from None
            self.sleep(retry_delay(attempt, retry_headers))
            attempt += 1

    def complete(self, body: Mapping, *, timeout: float | None = None) -> Response:
        """Send a request and return the whole answer (the body's `stream` is forced off)."""
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        response = Response(requested_model=body.get("model"))
        http = self._send("POST", "/chat/completions", body, timeout=timeout)
        try:
            data = json.loads(http.content)
        except ValueError:
            raise APIStatusError(
                "xAI sent an answer that is not JSON", status=http.status_code
            ) from None
        return Response.from_completion(
            data, requested_model=body.get("model"), started=response.started
        )

    def stream(self, body: Mapping, *, timeout: float | None = None) -> ResponseStream:
        """Send a streaming request; iterate the result for Deltas, or call `.until_done()`."""
        body = dict(body, stream=True, stream_options={"include_usage": True})
        response = Response(requested_model=body.get("model"))
        http = self._send("POST", "/chat/completions", body, stream=True, timeout=timeout)
        request_id = http.headers.get("x-request-id")
        return ResponseStream(http, response, request_id)

    def get_json(self, path: str, *, timeout: float | None = 30.0) -> object:
        http = self._send("GET", path, timeout=timeout)
        try:
            return json.loads(http.content)
        except ValueError:
            raise APIStatusError(f"{path} did not answer JSON", status=http.status_code) from None

    def list_models(self) -> list[ModelInfo]:
        """Models this key can use, with image support and prices when xAI says them."""
        try:
            data = self.get_json("/language-models")
            return [ModelInfo.from_language_model(m) for m in data.get("models", [])]
        except AuthenticationError:
            raise
        except APIStatusError:
            data = self.get_json("/models")
            return [ModelInfo(id=m["id"]) for m in data.get("data", [])]

    def __repr__(self) -> str:
        key = "set" if self.settings.has_key else "missing"
        return f"GrokClient(base_url={self.settings.base_url!r}, key={key})"


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "Connection reset", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return redact(text[:200])

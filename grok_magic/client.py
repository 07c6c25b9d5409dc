"""GrokClient: one keep-alive HTTP session to xAI; complete(), stream(), list_models(), retries."""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import math
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
    ConfigError,
    GrokError,
    InterruptedByUser,
    StreamInterruptedError,
    UnexpectedResponseError,
    error_for_status,
)
from grok_magic.pricing import Price, PriceBook, price_from_language_model
from grok_magic.redaction import Secret, redact
from grok_magic.response import Response
from grok_magic.settings import Settings
from grok_magic.sse import StreamState, iter_sse_json

RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
# After `[DONE]` only the end of the chunked body should follow; wait this long for it so the
# connection goes back to the pool, rather than dropping it.
DRAIN_TIMEOUT = 1.0
DRAIN_MAX_BYTES = 64 * 1024
USER_AGENT = f"grok_magic/{__version__}"
PREVIEW_CHARS = 200
log = logging.getLogger("grok_magic")
log.addHandler(logging.NullHandler())  # a library prints nothing unless asked


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
            aliases=tuple(redact(str(a)) for a in data.get("aliases") or ()),
            image_input="image" in (data.get("input_modalities") or ()),
            price=price,
        )


@dataclass
class Delta:
    """What one stream chunk added: answer text and/or reasoning text (both may be empty)."""

    content: str = ""
    reasoning: str = ""


def should_retry(status: int) -> bool:
    """Whether an HTTP status is worth another try (rate limits, conflicts, server trouble)."""
    return status in RETRY_STATUSES or status >= 500


def retry_delay(attempt: int, headers: Mapping | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): the server's word, else backoff.

    `retry-after-ms`, else `Retry-After` (seconds or an HTTP date), capped at MAX_RETRY_AFTER;
    without them `min(0.5 * 2**attempt, 8)` shortened by up to 25 % of jitter.
    """
    server_says = _server_delay({str(k).lower(): str(v).strip() for k, v in (headers or {}).items()})
    if server_says is not None and math.isfinite(server_says):
        return min(max(server_says, 0.0), MAX_RETRY_AFTER)
    jitter = 1 - 0.25 * random.random()
    return min(0.5 * 2**attempt, MAX_RETRY_DELAY) * jitter


def _server_delay(headers: Mapping[str, str]) -> float | None:
    if "retry-after-ms" in headers:
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # a date without a zone is GMT (RFC 9110)
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp() - time.time()


def request_id_of(http) -> str | None:
    """xAI's id for a request, when its answer carries one (quote it to xAI support); redacted,
    since a misbehaving server could echo anything there."""
    headers = http.headers
    value = headers.get("x-request-id") or headers.get("x-trace-id")
    return redact(value) if value else value


class BearerAuth:
    """Adds the Authorization header inside requests, so no frame of ours holds it in a dict."""

    def __init__(self, key: Secret) -> None:
        self.key = key

    @property
    def sendable(self) -> bool:
        """Whether the key fits in an HTTP header (printable ASCII, no spaces)."""
        return all("!" <= c <= "~" for c in self.key.reveal())

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.key.reveal()}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def unexpected_body(http, expected: str) -> UnexpectedResponseError:
    """A 2xx answer of the wrong kind (an HTML page from a proxy, JSON instead of a stream)."""
    content_type = http.headers.get("content-type") or "no content type"
    try:
        head = http.raw.read(PREVIEW_CHARS * 4, decode_content=True) if http.raw is not None else b""
    except Exception:  # noqa: BLE001 - the preview is a courtesy; the error stands without it
        head = b""
    finally:
        http.close()
    preview = " ".join(head.decode("utf-8", "replace").split())[:PREVIEW_CHARS]
    return UnexpectedResponseError(
        f"expected {expected} but the server sent {content_type}: {preview!r}",
        status=http.status_code, request_id=request_id_of(http),
    )


class ResponseStream:
    """A streaming answer: iterate for Deltas; `.response` accumulates; `close()` stops it.

    Safe to `close()` from another thread (the chat panel's Stop button).
    """

    def __init__(
        self, http_response, response: Response, request_id: str | None,
        on_done: Callable[[Response], None] | None = None,
    ) -> None:
        self._http = http_response
        self._on_done = on_done
        self._on_end: list[Callable[[Response], None]] = []
        self._ended = False
        self.response = response
        self.request_id = request_id
        self._stopped = threading.Event()
        self._started = False
        self._state = StreamState()

    def __enter__(self) -> ResponseStream:
        return self

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

    def __exit__(self, *exc) -> None:
        self._release()

    def __iter__(self) -> Iterator[Delta]:
        import requests

        self._started = True
        response = self.response
        add_chunk, stopped = response.add_chunk, self._stopped.is_set
        try:
            chunks = self._http.iter_content(chunk_size=None)
            for chunk in iter_sse_json(chunks, self._state, self.request_id):
                content, reasoning = add_chunk(chunk)
                yield Delta(content, reasoning)
                if stopped():
                    break
            else:
                if self._state.done:
                    self._drain(chunks)
        except GrokError as err:  # an error event inside the stream
            if stopped():
                self._end(response.finish(stopped=True))
                return
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
            if self._on_done is not None:
                self._on_done(response)
            self._end(response)
        else:
            raise self._interrupted(None)

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

    def _interrupted(self, exc: BaseException | None) -> StreamInterruptedError:
        if exc is None:
            reason = "the stream ended before the answer was complete"
        elif "timed out" in str(exc).lower():
            reason = "no data arrived within the read timeout"
        else:
            reason = "the connection broke mid-answer"
        return StreamInterruptedError(
            reason, response=self._end(self.response.finish(partial=True)), request_id=self.request_id
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
        """Send with bounded retries; return a 2xx requests.Response or raise a GrokError.

        The body of the answer is not read yet: retries happen only before any byte of a
        successful answer arrived, so a request is never answered (and billed) twice.
        """
        auth = BearerAuth(self.settings.require_secret())
        if not auth.sendable:
            # requests would quote the whole header, key included, in its error: say it without.
            raise ConfigError(
                "the API key holds characters that cannot be sent (a stray space or line break?)",
                hint="Copy the key again from console.x.ai.",
            )
        url = f"{self.settings.base_url}{path}"
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        read_timeout = timeout if timeout is not None else self.settings.read_timeout
        timeouts = (min(self.settings.connect_timeout, read_timeout), read_timeout)
        model = body.get("model") if isinstance(body, Mapping) else None
        attempt = 0
        while True:
            started = time.monotonic()
            http, error, retryable, retry_headers = self._attempt(
                method, url, data, headers, timeouts, auth
            )
            status = http.status_code if http is not None else getattr(error, "status", None)
            log.info("%s %s model=%s body=%d bytes status=%s request_id=%s %.2f s", method, path,
                     model, len(data or b""), status or type(error).__name__,
                     request_id_of(http) if http is not None else getattr(error, "request_id", None),
                     time.monotonic() - started)
            if http is not None:
                return http
            # Raised here, outside any `except`, so no requests exception (which may quote the
            # Authorization header) hangs on as __context__.
            if not retryable:
                raise error
            if attempt >= self.settings.max_retries:
                if attempt:
                    error.message += f" (after {attempt + 1} attempts)"
                raise error
            wait = retry_delay(attempt, retry_headers)
            log.info("retry %d of %s %s after %s: waiting %.2f s", attempt + 1, method, path,
                     status or type(error).__name__, wait)
            self.sleep(wait)
            attempt += 1

    def _attempt(
        self, method: str, url: str, data: bytes | None, headers: dict, timeouts: tuple,
        auth: BearerAuth,
    ) -> tuple:
        """One try: (2xx response, None, ...) or (None, error, try again?, Retry-After headers).

        Every failure of the transport becomes a GrokError raised by the caller, never here
        inside `except`: the frames of requests and urllib3 (whose locals hold the headers) are
        then not part of any traceback, even with `%xmode Verbose`.
        """
        http, error, retryable = None, None, False
        try:
            http = self.session.request(
                method, url, data=data, headers=headers, auth=auth, stream=True,
                timeout=timeouts, allow_redirects=False,
            )
        except KeyboardInterrupt:
            error = InterruptedByUser("you stopped the request before the answer began")
        except Exception as exc:  # noqa: BLE001 - sorted below, outside the except block
            error, retryable = self._transport_error(exc, timeouts)
        if error is not None:
            if isinstance(error, InterruptedByUser):
                raise error
            return None, error, retryable, None
        if 300 <= http.status_code < 400:
            location = redact(http.headers.get("location") or "?")
            http.close()
            error = ConfigError(
                f"{self.settings.base_url} answered with a redirect (HTTP {http.status_code}) "
                f"to {location}",
                hint="Set XAI_BASE_URL to the API's final address (default https://api.x.ai/v1).",
            )
            return None, error, False, None
        if http.status_code < 400:
            return http, None, False, None
        error = self._status_error(http, auth.key)
        retry = should_retry(http.status_code) and getattr(error, "retryable", True)
        return None, error, retry, http.headers

    def _transport_error(self, exc: Exception, timeouts: tuple) -> tuple[GrokError, bool]:
        """(the GrokError for a failed request, whether to try again)."""
        import requests

        base = self.settings.base_url
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return APITimeoutError(f"could not connect to {base} within {timeouts[0]:g} s"), True
        if isinstance(exc, requests.exceptions.ReadTimeout):
            # Not retried: the server has the request and may be working on it.
            return APITimeoutError(f"no answer from {base} within {timeouts[1]:g} s"), False
        if isinstance(exc, requests.exceptions.ConnectionError):
            return APIConnectionError(f"could not reach {base}: {_short_reason(exc)}"), True
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
                      | requests.exceptions.InvalidSchema):
            return ConfigError(
                f"the base URL {base!r} is not a usable http(s) URL",
                hint="Check XAI_BASE_URL (default https://api.x.ai/v1).",
            ), False
        if isinstance(exc, requests.RequestException | OSError | ValueError):
            return APIConnectionError(f"the request to {base} failed: {_short_reason(exc)}"), False
        raise exc

    @staticmethod
    def _status_error(http, key: Secret) -> APIStatusError:
        import requests

        try:
            content = http.content
        except requests.RequestException:
            content = b""  # the error body itself broke off: the status still tells the story
        finally:
            http.close()
        return error_for_status(http.status_code, content, request_id=request_id_of(http),
                                key=key.reveal())

    def _read_json(self, http, what: str) -> object:
        """A whole JSON body. Not retried: part of the answer already arrived."""
        import requests

        failure, interrupted = None, False
        try:
            content = http.content
        except requests.RequestException as exc:
            failure = exc
        except KeyboardInterrupt:
            interrupted = True
        finally:
            http.close()
        if interrupted:
            raise InterruptedByUser("you stopped the request while the answer was arriving")
        if failure is not None:
            error_class = APITimeoutError if "timed out" in str(failure).lower() else APIConnectionError
            raise error_class(
                f"the connection broke while {what} was arriving: {_short_reason(failure)}",
                request_id=request_id_of(http),
            )
        try:
            return json.loads(content)
        except ValueError:
            pass
        content_type = http.headers.get("content-type") or "no content type"
        preview = " ".join(content[: PREVIEW_CHARS * 4].decode("utf-8", "replace").split())
        raise UnexpectedResponseError(
            f"expected JSON as {what} but the server sent {content_type}: "
            f"{preview[:PREVIEW_CHARS]!r}", status=http.status_code, request_id=request_id_of(http),
        )

    def complete(self, body: Mapping, *, timeout: float | None = None) -> Response:
        """Send a request and return the whole answer (the body's `stream` is forced off)."""
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        response = Response(requested_model=body.get("model"))
        http = self._send("POST", "/chat/completions", body, timeout=timeout)
        data = self._read_json(http, "the answer")
        if not isinstance(data, dict):
            raise APIStatusError("xAI sent an answer that is not a chat completion",
                                 status=http.status_code, request_id=request_id_of(http))
        response = Response.from_completion(
            data, requested_model=body.get("model"), started=response.started
        )
        self.fill_price(response)
        return response

    def stream(self, body: Mapping, *, timeout: float | None = None) -> ResponseStream:
        """Send a streaming request; iterate the result for Deltas, or call `.until_done()`."""
        body = dict(body, stream=True, stream_options={"include_usage": True})
        response = Response(requested_model=body.get("model"))
        http = self._send("POST", "/chat/completions", body, stream=True, timeout=timeout)
        if "text/event-stream" not in (http.headers.get("content-type") or "").lower():
            raise unexpected_body(http, "an event stream")
        return ResponseStream(http, response, request_id_of(http), on_done=self.fill_price)

    def get_json(self, path: str, *, timeout: float | None = 30.0) -> object:
        http = self._send("GET", path, timeout=timeout)
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

    def price_for(self, model: str | None) -> Price | None:
        """The live price of `model` or an alias of it (fetched once per client), else None."""
        return self._prices.get(model)

    def _models_for_prices(self) -> list[ModelInfo]:
        try:
            return self.list_models()
        except GrokError:
            return []

    def fill_price(self, response: Response) -> None:
        """Price an answer that came without xAI's own cost figure (`cost_in_usd_ticks`)."""
        usage = response.usage
        if usage is None or usage.cost_in_usd_ticks is not None or response.price is not None:
            return
        response.price = self.price_for(response.model) or self.price_for(response.requested_model)

    def __repr__(self) -> str:
        key = "set" if self.settings.has_key else "missing"
        return f"GrokClient(base_url={self.settings.base_url!r}, key={key})"


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "Connection reset", "Remote end closed", "Connection aborted",
                   "Response ended prematurely", "IncompleteRead"):
        if marker in text:
            return marker.lower()
    return redact(text[:200])

"""HTTP to xAI: one keep-alive session, the key added by an auth object, bounded retries, every
transport failure as a GrokError raised from grok_magic's own frame, and request logging."""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from grok_magic._version import __version__
from grok_magic.errors import (
    AnswerLimitError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigError,
    GrokError,
    InterruptedByUser,
    KeyInRequestError,
    UnexpectedResponseError,
    error_for_status,
)
from grok_magic.safety import untrusted_json
from grok_magic.safety.redaction import Secret, key_in, redact
from grok_magic.settings import Settings
from grok_magic.xai.answer_watch import AnswerWatch

RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
USER_AGENT = f"grok_magic/{__version__}"
PREVIEW_CHARS = 200
ERROR_BODY_BYTES = 1 << 20  # of an error answer, the most read (its message is at the start)
READ_PIECE = 64 * 1024
# What `_attempt` says of a request that failed on a kept-alive connection the server had
# closed while it was idle, before any byte of an answer: send it again at once, on a new one.
RECONNECT = "reconnect"
UNREADABLE_HINT = ("The server answered, but not in HTTP that can be read: a proxy or firewall "
                   "may be in the way. The request was not sent again, as it may have been "
                   "answered; check XAI_BASE_URL (default https://api.x.ai/v1).")
log = logging.getLogger("grok_magic")
log.addHandler(logging.NullHandler())  # a library prints nothing unless asked


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


def refuse_key_in(body: Mapping | None) -> None:
    """The last check before a body leaves: a registered key in it, in any form redaction
    knows, is refused (KeyInRequestError), whatever built the body — a cell, the panel, --each,
    a batch line or a script."""
    found = key_in(body) if body is not None else None
    if found is not None:
        raise KeyInRequestError(*found)


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
    head = read_head(http, PREVIEW_CHARS * 4)
    preview = " ".join(head.decode("utf-8", "replace").split())[:PREVIEW_CHARS]
    return UnexpectedResponseError(
        f"expected {expected} but the server sent {content_type}: {preview!r}",
        status=http.status_code, request_id=request_id_of(http),
    )


def read_head(http, limit: int) -> bytes:
    """At most `limit` bytes of a body (decoded), whatever of them arrived before it broke
    off; the response is closed (the connection kept only if the body ended)."""
    head = bytearray()
    try:
        for piece in http.iter_content(min(READ_PIECE, limit)):
            head += piece
            if len(head) >= limit:
                break
    except Exception:  # noqa: BLE001 - a courtesy: the caller's error stands without the body
        pass
    finally:
        http.close()
    return bytes(head[:limit])


def read_capped(http, limit: int | None) -> bytearray | None:
    """The whole body, or None (and the connection closed) once it passes `limit` bytes."""
    declared = http.headers.get("content-length") or ""
    if limit is not None and declared.isdigit() and int(declared) > limit:
        http.close()
        return None
    content = bytearray()
    for piece in http.iter_content(READ_PIECE):
        content += piece
        if limit is not None and len(content) > limit:
            http.close()
            return None
    return content


def _causes(exc: BaseException):
    """`exc` and what it wraps: causes, contexts and exceptions among its args (requests and
    urllib3 wrap http.client's errors in their own)."""
    seen, todo = set(), [exc]
    while todo and len(seen) < 20:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        todo.extend(e for e in (error.__cause__, error.__context__, *error.args)
                    if isinstance(e, BaseException))


def unreadable_answer(exc: BaseException) -> str | None:
    """What was wrong with an answer http.client could not read (None: not that kind)."""
    import http.client

    for error in _causes(exc):
        if isinstance(error, http.client.RemoteDisconnected):
            return None  # closed before any byte: not an answer at all
        if isinstance(error, http.client.LineTooLong):
            which = "header" if "header" in str(error) else "status"
            return f"a {which} line longer than {http.client._MAXLINE:,} bytes"
        if isinstance(error, http.client.BadStatusLine):
            line = " ".join(str(error.args[0] if error.args else "").split())[:80]
            return f"a malformed status line {redact(line)!r}" if line else "an empty status line"
        if type(error) is http.client.HTTPException and "headers" in str(error):
            return f"more than {http.client._MAXHEADERS} header lines"
    return None


def _dropped(exc: BaseException) -> bool:
    """Whether `exc` is a connection the other end closed or reset."""
    return any(isinstance(e, ConnectionResetError | BrokenPipeError | ConnectionAbortedError)
               for e in _causes(exc))


@dataclass
class Transport:
    """Sends requests to xAI for GrokClient: retries only before any byte of an answer arrived."""

    settings: Settings = field(default_factory=Settings.load)
    sleep: Callable[[float], None] = time.sleep
    _session: object = field(default=None, repr=False)
    pool_size: int = 10  # keep-alive connections kept open (concurrent requests: --each)

    @property
    def session(self):
        if self._session is None:
            import requests  # imported on first use so that loading the extension stays fast

            from grok_magic.xai.watched_http import WatchedAdapter

            self._session = requests.Session()
            self._session.headers["User-Agent"] = USER_AGENT
            adapter = WatchedAdapter(pool_maxsize=self.pool_size)
            self._session.mount("https://", adapter)
            self._session.mount("http://", adapter)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- requests ----------------------------------------------------------------------------
    def send(
        self, method: str, path: str, body: Mapping | None = None, *,
        stream: bool = False, timeout: float | None = None,
        upload: Callable[[], tuple[object, str]] | None = None,
        headers: Mapping[str, str] | None = None, retries: int | None = None,
    ):
        """Send with bounded retries (`retries`, default Settings.max_retries); return a 2xx
        requests.Response or raise a GrokError.

        The body of the answer is not read yet: retries happen only before any byte of an
        answer arrived, so a request is never answered (and billed) twice. A kept-alive
        connection the server closed while idle is replaced once, at once, and not counted.
        The response's `answer_watch` keeps the answer's deadline, stall deadline and size.
        `upload()` gives a fresh (file-like body with a length, content type) for each try,
        instead of a JSON `body` (a file sent to /files). `headers` are sent as well (such as
        the conversation key, `x-grok-conv-id`).
        """
        auth = BearerAuth(self.settings.require_secret())
        if not auth.sendable:
            # requests would quote the whole header, key included, in its error: say it without.
            raise ConfigError(
                "the API key holds characters that cannot be sent (a stray space or line break?)",
                hint="Copy the key again from console.x.ai.",
            )
        refuse_key_in(body)
        url = f"{self.settings.base_url}{path}"
        headers = {**(headers or {}), "Accept": "text/event-stream" if stream else "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        read_timeout = timeout if timeout is not None else self.settings.read_timeout
        timeouts = (min(self.settings.connect_timeout, read_timeout), read_timeout)
        model = body.get("model") if isinstance(body, Mapping) else None
        attempt, reconnected, first_started = 0, False, time.monotonic()
        while True:
            started = time.monotonic()
            if upload is not None:
                data, headers["Content-Type"] = upload()
            watch = AnswerWatch.for_settings(self.settings, stream=stream, started=first_started)
            http, error, retryable, retry_headers = self._attempt(
                method, url, data, headers, timeouts, auth, watch
            )
            status = http.status_code if http is not None else getattr(error, "status", None)
            log.info("%s %s model=%s body=%d bytes status=%s request_id=%s %.2f s", method, path,
                     model, len(data) if data is not None else 0, status or type(error).__name__,
                     request_id_of(http) if http is not None else getattr(error, "request_id", None),
                     time.monotonic() - started)
            if http is not None:
                http.answer_watch = watch
                return http
            if retryable == RECONNECT and not reconnected:
                reconnected = True
                log.info("%s %s: the server had closed the idle connection; sending on a new one",
                         method, path)
                continue
            # Raised here, outside any `except`, so no requests exception (which may quote the
            # Authorization header) hangs on as __context__.
            if not retryable:
                raise error
            if attempt >= (self.settings.max_retries if retries is None else retries):
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
        auth: BearerAuth, watch: AnswerWatch,
    ) -> tuple:
        """One try: (2xx response, None, ...) or (None, error, try again? (or RECONNECT),
        Retry-After headers). The answer is read through `watch`.

        Every failure of the transport becomes a GrokError raised by the caller, never here
        inside `except`: the frames of requests and urllib3 (whose locals hold the headers) are
        then not part of any traceback, even with `%xmode Verbose`.
        """
        from grok_magic.xai.watched_http import CURRENT_WATCH

        http, error, retryable = None, None, False
        token = CURRENT_WATCH.set(watch)
        try:
            http = self.session.request(
                method, url, data=data, headers=headers, auth=auth, stream=True,
                timeout=timeouts, allow_redirects=False,
            )
        except KeyboardInterrupt:
            error = InterruptedByUser("you stopped the request before the answer began")
        except Exception as exc:  # noqa: BLE001 - sorted below, outside the except block
            error, retryable = self._transport_error(exc, timeouts, watch)
        finally:
            CURRENT_WATCH.reset(token)
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

    def _transport_error(self, exc: Exception, timeouts: tuple,
                         watch: AnswerWatch) -> tuple[GrokError, bool | str]:
        """(the GrokError for a failed request, whether to try again, or RECONNECT).

        Once any byte of an answer arrived, nothing is tried again: the server has answered.
        """
        import requests

        base = self.settings.base_url
        limit = watch.error()
        if limit is not None:
            return limit, False
        unreadable = unreadable_answer(exc)
        if unreadable is not None:
            return UnexpectedResponseError(f"{base} sent an answer that cannot be read: {unreadable}",
                                           hint=UNREADABLE_HINT), False
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return APITimeoutError(f"could not connect to {base} within {timeouts[0]:g} s"), True
        if isinstance(exc, requests.exceptions.ReadTimeout):
            # Not retried: the server has the request and may be working on it.
            return APITimeoutError(f"no answer from {base} within {timeouts[1]:g} s"), False
        if watch.bytes_in:
            return APIConnectionError(
                f"the connection to {base} broke while the answer's headers were arriving: "
                f"{_short_reason(exc)}"), False
        if watch.reused and _dropped(exc):
            return APIConnectionError(f"could not reach {base}: {_short_reason(exc)}"), RECONNECT
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
        # If the error body itself broke off, the status still tells the story.
        content = read_head(http, ERROR_BODY_BYTES)
        error = error_for_status(http.status_code, content, request_id=request_id_of(http),
                                 key=key.reveal())
        # What the server asked to wait (seconds), for callers that pace themselves (--each).
        error.retry_after = _server_delay({str(k).lower(): str(v).strip()
                                           for k, v in http.headers.items()})
        return error

    def read_json(self, http, what: str, *, capped: bool = False) -> object:
        """A whole JSON body (`capped`: at most the answer size limit, see AnswerWatch). Not
        retried: part of the answer already arrived."""
        import requests

        watch = getattr(http, "answer_watch", None)
        limit = watch.max_bytes if capped and watch is not None else None
        failure, interrupted = None, False
        try:
            content = read_capped(http, limit)
        except (requests.RequestException, OSError) as exc:
            failure = exc
        except KeyboardInterrupt:
            interrupted = True
        finally:
            http.close()
        if interrupted:
            raise InterruptedByUser("you stopped the request while the answer was arriving")
        if failure is not None:
            if watch is not None and watch.reason is not None:
                raise AnswerLimitError(watch.reason, request_id=request_id_of(http))
            error_class = APITimeoutError if "timed out" in str(failure).lower() else APIConnectionError
            raise error_class(
                f"the connection broke while {what} was arriving: {_short_reason(failure)}",
                request_id=request_id_of(http),
            )
        if content is None:
            raise AnswerLimitError(watch.body_reason(), request_id=request_id_of(http))
        try:
            return untrusted_json.loads(content)
        except ValueError:
            pass
        content_type = http.headers.get("content-type") or "no content type"
        preview = " ".join(content[: PREVIEW_CHARS * 4].decode("utf-8", "replace").split())
        raise UnexpectedResponseError(
            f"expected JSON as {what} but the server sent {content_type}: "
            f"{preview[:PREVIEW_CHARS]!r}", status=http.status_code, request_id=request_id_of(http),
        )


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "Connection reset", "Remote end closed", "Connection aborted",
                   "Response ended prematurely", "IncompleteRead"):
        if marker in text:
            return marker.lower()
    return redact(text[:200])

"""Every expected failure as a GrokError subclass, and xAI's error bodies mapped to them."""

from __future__ import annotations

import json
from collections.abc import Mapping

from grok_magic.safety import untrusted_json
from grok_magic.safety.plain_text import inert_text
from grok_magic.safety.redaction import redact, register_secret

# Matched against xAI's message only: a plain 429's *code* is "Some resource has been exhausted",
# which must stay a (retryable) rate limit.
CREDITS_PHRASES = ("available credits", "spending limit", "out of credits", "purchase more credits")
WRONG_KEY_PHRASES = ("incorrect api key", "invalid api key", "api key provided", "api key is invalid")
RATE_LIMIT_PHRASES = ("rate limit", "too many requests", "resource has been exhausted")
SERVER_PHRASES = ("unavailable", "timed out", "internal", "deadline", "overloaded")

class GrokError(Exception):
    """An expected failure, worded for the person at the notebook."""

    #: What to do about it; appended to the message.
    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        # Everything kept here may be shown, so all of it is redacted (a server may echo the key
        # anywhere, the request id included).
        self.message = redact(message)
        self.status = status
        self.code = redact(code) if code else code
        self.request_id = redact(request_id) if request_id else request_id
        if hint is not None:
            self.hint = redact(hint)
        super().__init__(self.message)

    @property
    def title(self) -> str:
        """A short name for what went wrong, e.g. 'Rate limited (HTTP 429)'."""
        name = type(self).__doc__.splitlines()[0].rstrip(".") if type(self).__doc__ else "Error"
        return f"{name} (HTTP {self.status})" if self.status else name

    def paragraph(self) -> str:
        """One paragraph: what happened, xAI's words, what to do, and the request id."""
        parts = [f"{self.title}: {self.message}".rstrip()]
        if self.hint:
            parts.append(self.hint)
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        # Inert: a terminal prints it as it is, and a server's words are in it.
        return inert_text(" ".join(p if p.endswith((".", ")", "!", "?")) else p + "."
                                   for p in parts))

    def __str__(self) -> str:
        return self.paragraph()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"

    #: Set by a front end that has already shown `paragraph()` where the answer goes: the
    #: traceback is then one short line, so the failure is not said twice.
    shown_above: bool = False

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback, so "Run all" still stops at the cell (and
        # the execute reply keeps ename and evalue). Never empty: JupyterLab shows an empty
        # traceback as "ename: evalue", the whole paragraph again.
        if self.shown_above:
            return [f"{type(self).__name__} (shown above)"]
        return [self.paragraph()]


class ConfigError(GrokError):
    """Configuration problem."""


class MissingKeyError(ConfigError):
    """No xAI API key."""

    hint = (
        "Set the XAI_API_KEY environment variable, put XAI_API_KEY=... in a .env file in this "
        "folder or above, or run %grok key to type it in for this session."
    )


class InputError(GrokError):
    """Bad input."""


class KeyInRequestError(InputError):
    """Your API key is in the request."""

    hint = ("Take the key out of the cell, the values it names and the system prompt: it "
            "belongs in XAI_API_KEY or .env only, and reaches xAI in the Authorization header, "
            "never in what the model reads.")

    def __init__(self, where: str, how: str) -> None:
        self.where, self.how = where, how
        form = "" if how == "as typed" else f" ({how})"
        super().__init__(f"{where} holds your API key{form}, and grok_magic never sends the key "
                         "to the model: nothing was sent")


class ImageError(InputError):
    """Cannot use image."""

    def __init__(self, message: str, *, source: str | None = None, **kwargs) -> None:
        self.source = source
        super().__init__(message, **kwargs)


class APIStatusError(GrokError):
    """xAI answered with an error."""

    retryable = False
    retry_after: float | None = None  # seconds the server asked to wait (Retry-After)


class BadRequestError(APIStatusError):
    """Bad request."""

    hint = "Check the options and the cell's content."


class AuthenticationError(APIStatusError):
    """The API key was not accepted."""

    hint = (
        "Check XAI_API_KEY (or your .env file) holds a current key from console.x.ai, "
        "or run %grok key to enter another."
    )


class PermissionDeniedError(APIStatusError):
    """Permission denied."""

    hint = "Check your team's permissions and credits at console.x.ai."


class NotFoundError(APIStatusError):
    """Not found."""

    hint = "Check the model name; %grok models lists the ones your key can use."


class GoneError(APIStatusError):
    """Feature retired."""


class UnprocessableError(APIStatusError):
    """Request not understood."""


class RateLimitError(APIStatusError):
    """Rate limited."""

    retryable = True
    hint = "Wait a little and run the cell again, or lower the request rate."


class CreditsExhaustedError(RateLimitError):
    """Out of credits."""

    retryable = False
    hint = "Add credits or raise the monthly spending limit at console.x.ai; retrying won't help."


class ServerError(APIStatusError):
    """xAI server error."""

    retryable = True
    hint = "This is usually temporary: run the cell again in a moment."


class APIConnectionError(GrokError):
    """Cannot reach xAI."""

    hint = "Check your network connection and XAI_BASE_URL, then run the cell again."


class APITimeoutError(APIConnectionError):
    """Timed out."""

    hint = "The server took too long; run the cell again or raise the timeout (--timeout)."


class UnexpectedResponseError(APIStatusError):
    """Unexpected answer."""

    hint = (
        "This is not what xAI sends: a proxy, captive portal or firewall may be answering "
        "instead. Check your network and XAI_BASE_URL (default https://api.x.ai/v1)."
    )


class StreamInterruptedError(GrokError):
    """The answer was cut off."""

    hint = "The partial answer is kept; run the cell again for a complete one."

    def __init__(self, message: str, *, response=None, **kwargs) -> None:
        self.response = response
        super().__init__(message, **kwargs)


class AnswerLimitError(GrokError):
    """Answer stopped at a limit."""

    hint = ("Whatever part of the answer arrived is kept. The limits are GrokMagics.max_answer_chars, "
            "GrokMagics.deadline and GrokMagics.stall_timeout (in scripts, Settings fields of the "
            "same names).")

    def __init__(self, message: str, *, response=None, **kwargs) -> None:
        self.response = response
        # Its reason ends with the setting's name in brackets: the paragraph needs a full stop.
        super().__init__(message if message.endswith(".") else f"{message}.", **kwargs)


class InterruptedByUser(GrokError):
    """Stopped."""

    hint = "The partial answer is kept."

    def __init__(self, message: str = "you stopped the answer", *, response=None, **kwargs):
        self.response = response
        super().__init__(message, **kwargs)


STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: ServerError,
    409: ServerError,
    410: GoneError,
    415: UnprocessableError,
    422: UnprocessableError,
    429: RateLimitError,
}


def parse_error_body(body: bytes | str | Mapping | None) -> tuple[str, str | None]:
    """Return (message, code) from any of xAI's error body shapes.

    Shapes: flat ``{"code", "error"}``, ``{"error": "..."}``, OpenAI's nested
    ``{"error": {"message", "type", "code"}}``, or plain text.
    """
    data: object = body
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data = untrusted_json.loads(body)
        except ValueError:
            return body.strip()[:500], None
    if not isinstance(data, Mapping):
        return str(data)[:500], None
    err = data.get("error")
    code = data.get("code")
    if isinstance(err, Mapping):
        message = err.get("message") or json.dumps(err)
        code = err.get("code") or err.get("type") or code
    elif err is not None:
        message = str(err)
    else:
        message = str(data.get("message") or data)
    return message, (str(code) if code is not None else None)


def error_for_status(
    status: int,
    body: bytes | str | Mapping | None,
    *,
    request_id: str | None = None,
    key: str | None = None,
) -> APIStatusError:
    """Map an HTTP status and xAI error body to the matching APIStatusError subclass (which
    redacts what it keeps; `key` is registered for that first)."""
    register_secret(key)
    message, code = parse_error_body(body)
    message = message or f"HTTP {status}"
    lowered = message.lower()
    if status >= 500:
        cls: type[APIStatusError] = ServerError
    elif status == 400 and (
        any(p in lowered for p in WRONG_KEY_PHRASES) or "api_key" in (code or "").lower()
    ):
        cls = AuthenticationError  # xAI answers a wrong key with 400, not 401
    elif status in (403, 429) and any(p in lowered for p in CREDITS_PHRASES):
        cls = CreditsExhaustedError
    else:
        cls = STATUS_CLASSES.get(status, APIStatusError)
    return cls(message, status=status, code=code, request_id=request_id)


def error_for_event(
    event: Mapping, *, request_id: str | None = None, key: str | None = None
) -> APIStatusError:
    """An error event inside a 200 stream (``{"code", "error"}``) as the matching error."""
    register_secret(key)
    message, code = parse_error_body(event)
    lowered = f"{message} {code or ''}".lower()
    if any(p in message.lower() for p in CREDITS_PHRASES):
        cls: type[APIStatusError] = CreditsExhaustedError
    elif any(p in lowered for p in RATE_LIMIT_PHRASES):
        cls = RateLimitError
    elif any(p in lowered for p in SERVER_PHRASES):
        cls = ServerError
    else:
        cls = APIStatusError
    return cls(f"{message} ({code})" if code else message, code=code, request_id=request_id)

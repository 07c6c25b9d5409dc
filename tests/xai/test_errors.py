"""xAI error bodies -> GrokError classes, with xAI's message and the request id, through real
HTTP to the stand-in; the body parser; key redaction, and a scan proving no error text, repr or
paragraph ever carries the key."""

from __future__ import annotations

import socket

import pytest

from grok_magic.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    CreditsExhaustedError,
    GoneError,
    GrokError,
    MissingKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    UnprocessableError,
    error_for_event,
    error_for_status,
    parse_error_body,
    redact,
)
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from tests.support.xai_standin import (
    CREDITS_MESSAGE,
    DEFAULT_MESSAGES,
    FAKE_KEY,
    STATUS_CODES,
    Close,
    Fault,
    Hang,
    Replay,
    Reply,
    Stream,
)

BODY = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}
CUSTOM_KEY = "sk-test-secret-123456"


def make_client(srv, key: str | None = FAKE_KEY, retries: int = 2, **kw) -> GrokClient:
    settings = Settings(api_key=key, base_url=srv.base_url, max_retries=retries, **kw)
    return GrokClient(settings, sleep=lambda s: None)


def raised(call) -> GrokError:
    with pytest.raises(GrokError) as info:
        call()
    return info.value


# (fault, expected class, expected words of the message, retried?)
FAULT_CASES = {
    "400": (Fault(400), BadRequestError, DEFAULT_MESSAGES[400], False),
    "400-wrong-key": (
        Fault(400, {"code": STATUS_CODES[400],
                    "error": "Incorrect API key provided: xa***ef. You can obtain an API key "
                             "from https://console.x.ai."}),
        AuthenticationError, "Incorrect API key provided: xa***ef", False),
    "401": (Fault(401), AuthenticationError, "No API key provided", False),
    "403": (Fault(403), PermissionDeniedError, DEFAULT_MESSAGES[403], False),
    "403-credits": (Fault.credits(403), CreditsExhaustedError, "used all available credits", False),
    "404": (Fault(404), NotFoundError, DEFAULT_MESSAGES[404], False),
    "408": (Fault(408), ServerError, DEFAULT_MESSAGES[408], True),
    "409": (Fault(409, {"code": "Aborted", "error": "Conflict, try again."}), ServerError,
            "Conflict, try again.", True),
    "410": (Fault(410), GoneError, DEFAULT_MESSAGES[410], False),
    "413": (Fault(413), APIStatusError, DEFAULT_MESSAGES[413], False),
    "415": (Fault(415), UnprocessableError, "Content-Type: application/json", False),
    "422": (Fault(422), UnprocessableError, "Failed to deserialize", False),
    "429": (Fault(429), RateLimitError, "exceeded the rate limit", True),
    "429-credits": (Fault.credits(429), CreditsExhaustedError, "monthly spending limit", False),
    "500": (Fault(500), ServerError, DEFAULT_MESSAGES[500], True),
    "501": (Fault(501, {"code": "Unimplemented", "error": "Not implemented."}), ServerError,
            "Not implemented.", True),
    "502": (Fault(502), ServerError, DEFAULT_MESSAGES[502], True),
    "503": (Fault(503), ServerError, DEFAULT_MESSAGES[503], True),
    "504": (Fault(504), ServerError, DEFAULT_MESSAGES[504], True),
    "only-error": (Fault(400, {"error": "messages must not be empty"}), BadRequestError,
                   "messages must not be empty", False),
    "openai-nested": (
        Fault(401, {"error": {"message": "Invalid API key.", "type": "invalid_request_error",
                              "code": "invalid_api_key"}}),
        AuthenticationError, "Invalid API key.", False),
    "openai-nested-400": (
        Fault(400, {"error": {"message": "Bad key", "type": "invalid_request_error",
                              "code": "invalid_api_key"}}),
        AuthenticationError, "Bad key", False),
    "plain-text": (Fault(502, "upstream connect error", content_type="text/plain"), ServerError,
                   "upstream connect error", True),
    "empty": (Fault(503, b""), ServerError, "HTTP 503", True),
}


@pytest.mark.parametrize("case", sorted(FAULT_CASES))
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
def test_each_fault_maps_to_its_class_message_and_request_id(xai_server, case, streaming):
    fault, cls, words, retried = FAULT_CASES[case]
    fault.headers = {**fault.headers, "x-request-id": f"req-{case}"}
    xai_server.enqueue(*[fault] * 3)
    client = make_client(xai_server)
    err = raised(lambda: client.stream(BODY) if streaming else client.complete(BODY))
    assert type(err) is cls
    assert words in err.message
    assert err.status == fault.status
    assert err.request_id == f"req-{case}"
    assert f"(request id req-{case})" in err.paragraph()
    assert err.hint == cls.hint and (not cls.hint or cls.hint in str(err))
    assert len(xai_server.answer_requests) == (3 if retried else 1)
    assert ("after 3 attempts" in err.message) == retried


def test_flat_body_code_is_kept(xai_server):
    xai_server.enqueue(Fault(404))
    err = raised(lambda: make_client(xai_server).complete(BODY))
    assert err.code == STATUS_CODES[404]


def test_real_validation_errors_from_the_standin(xai_server):
    client = make_client(xai_server)
    err = raised(lambda: client.complete({**BODY, "model": "grok-nope"}))
    assert isinstance(err, NotFoundError) and "The model grok-nope does not exist" in err.message
    err = raised(lambda: client.complete({**BODY, "search_parameters": {"mode": "auto"}}))
    assert isinstance(err, GoneError) and "Live search is deprecated" in err.message
    err = raised(lambda: client.complete({**BODY, "messages": "hi"}))
    assert isinstance(err, UnprocessableError)
    err = raised(lambda: client.complete({**BODY, "reasoning_effort": "extreme"}))
    assert isinstance(err, BadRequestError) and "reasoning effort" in err.message
    err = raised(lambda: client.complete({**BODY, "model": "grok-4-fast", "stop": ["x"]}))
    assert isinstance(err, BadRequestError) and "does not support parameter stop" in err.message
    assert len(xai_server.answer_requests) == 5  # none of these is retried


def test_a_wrong_key_is_http_400_and_an_authentication_error(xai_server):
    err = raised(lambda: make_client(xai_server, key="xai-wrong-key-0000000000").complete(BODY))
    assert isinstance(err, AuthenticationError) and err.status == 400
    assert err.message.startswith("Incorrect API key provided: xa***00")
    assert "XAI_API_KEY" in err.paragraph()
    assert "xai-wrong-key" not in err.paragraph()


def test_plain_rate_limit_is_not_mistaken_for_credits():
    err = error_for_status(429, {"code": "Some resource has been exhausted",
                                 "error": "Too many requests."})
    assert type(err) is RateLimitError and err.retryable
    err = error_for_status(429, {"code": "Some resource has been exhausted",
                                 "error": CREDITS_MESSAGE})
    assert type(err) is CreditsExhaustedError and not err.retryable


def test_a_400_that_mentions_keys_in_passing_is_not_an_auth_error():
    err = error_for_status(400, {"error": "Model grok-4.3 does not support parameter stop."})
    assert type(err) is BadRequestError


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": "Client specified an invalid argument", "error": "Bad."},
         ("Bad.", "Client specified an invalid argument")),
        ({"error": "Only a message."}, ("Only a message.", None)),
        ({"error": {"message": "Nested.", "type": "invalid_request_error", "code": "bad"}},
         ("Nested.", "bad")),
        ({"error": {"message": "Typed.", "type": "server_error"}}, ("Typed.", "server_error")),
        ({"message": "Just message."}, ("Just message.", None)),
        (b'{"code": "c", "error": "from bytes"}', ("from bytes", "c")),
        ("<html>502 Bad Gateway</html>", ("<html>502 Bad Gateway</html>", None)),
        (b"", ("", None)),
        (None, ("None", None)),
        ("[1, 2]", ("[1, 2]", None)),
    ],
)
def test_parse_error_body_shapes(body, expected):
    assert parse_error_body(body) == expected


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ({"code": "The service is currently unavailable",
          "error": "Timed out waiting for first token"}, ServerError),
        ({"code": "Internal error", "error": "Something broke"}, ServerError),
        ({"code": "Some resource has been exhausted", "error": "Too many requests"},
         RateLimitError),
        ({"code": "Some resource has been exhausted", "error": CREDITS_MESSAGE},
         CreditsExhaustedError),
        ({"code": "Client specified an invalid argument", "error": "Failed to generate"},
         APIStatusError),
    ],
)
def test_error_events_map_to_classes(event, cls):
    err = error_for_event(event, request_id="r1")
    assert type(err) is cls and event["error"] in err.message and err.request_id == "r1"


def test_error_event_in_a_stream_keeps_the_partial_answer(xai_server):
    event = {"code": "The service is currently unavailable",
             "error": "Timed out waiting for first token"}
    xai_server.enqueue(Reply("one two three four", error_event=event, error_after=3,
                             headers={"x-request-id": "req-event"}))
    stream = make_client(xai_server).stream(BODY)
    with pytest.raises(ServerError) as info:
        stream.until_done()
    err = info.value
    assert err.request_id == "req-event" and "Timed out waiting for first token" in err.message
    assert err.response is stream.response
    assert err.response.partial and err.response.text == "one two three"
    assert len(xai_server.answer_requests) == 1  # never retried once the answer started


def test_missing_key_says_how_to_set_one(xai_server):
    client = GrokClient(Settings.load(base_url=xai_server.base_url))
    err = raised(lambda: client.complete(BODY))
    assert isinstance(err, MissingKeyError) and isinstance(err, ConfigError)
    text = str(err)
    assert "XAI_API_KEY" in text and ".env" in text
    assert xai_server.requests == []


def test_error_paragraph_title_and_traceback_hook():
    err = RateLimitError("Slow down.", status=429, request_id="abc")
    assert err.title == "Rate limited (HTTP 429)"
    assert err.paragraph() == (
        "Rate limited (HTTP 429): Slow down. Wait a little and run the cell again, or lower the "
        "request rate. (request id abc)")
    assert err._render_traceback_() == [err.paragraph()]
    assert repr(err) == "RateLimitError('Slow down.', status=429)"


def test_redact_masks_the_key_and_lookalikes():
    assert redact("bad key xai-abcdefghijklmnop") == "bad key xai-***"
    assert redact(f"key={CUSTOM_KEY}!", CUSTOM_KEY) == "key=***!"
    assert redact("xai-short") == "xai-short"  # too short to be a key
    assert redact("") == "" and redact("nothing here") == "nothing here"
    assert redact("a b c", "a") == "a b c"  # a tiny 'key' would mangle every text


# -- key hygiene: the scan ---------------------------------------------------------------------
def every_error(srv, key: str, monkeypatch) -> list[BaseException]:
    """Raise every kind of error the core can produce with `key` in use; return them all."""
    echo = f"Incorrect API key provided: {key}. Also Bearer {key}."
    plain = f"Cannot parse the request sent with {key}"
    collected: list[BaseException] = []

    def collect(call):
        try:
            call()
        except GrokError as err:
            collected.append(err)
        else:
            raise AssertionError("expected an error")

    client = make_client(srv, key=key, retries=0)  # retries are tested elsewhere
    srv.api_key = key
    try:
        for status in (400, 401, 403, 404, 410, 413, 422, 429, 503):
            for body in ({"code": key, "error": plain}, {"error": echo},
                         {"error": {"message": plain, "type": key, "code": key}}, echo):
                for call in (client.complete, client.stream):
                    srv.reset()
                    srv.enqueue(*[Fault(status, body, headers={"x-request-id": "rid"})] * 3)
                    collect(lambda call=call: call(BODY))
        srv.reset()
        srv.enqueue(Fault.credits(429), Close())
        collect(lambda: client.complete(BODY))
        # A new connection: a kept-alive one that drops is taken for an idle close and replaced.
        collect(lambda: make_client(srv, key=key, retries=0).complete(BODY))
        srv.enqueue(Hang(1))
        collect(lambda: client.complete(BODY, timeout=0.2))
        srv.enqueue(Reply("abc def ghi", error_event={"code": key, "error": echo}, error_after=1))
        collect(lambda: client.stream(BODY).until_done())
        srv.enqueue(Replay("grok-4-fast_simple_streaming", cut_after=2))
        collect(lambda: client.stream(srv.recordings["grok-4-fast_simple_streaming"]
                                      .request_body).until_done())
        srv.enqueue(Stream(events=[f"not json {key}"]))
        collect(lambda: client.stream(BODY).until_done())
        # A wrong key against the strict stand-in (it masks the key itself).
        collect(lambda: make_client(srv, key=key + "x").complete(BODY))
        collect(lambda: make_client(srv, key=key + "x").list_models())
        # A key that cannot go in a header, a refused port, a missing key.
        collect(lambda: make_client(srv, key=key[:6] + "\n" + key[6:]).complete(BODY))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        refused = GrokClient(Settings(api_key=key, base_url=f"http://127.0.0.1:{port}/v1"),
                             sleep=lambda s: None)
        collect(lambda: refused.complete(BODY))
        monkeypatch.setenv("XAI_API_KEY", "")
        collect(lambda: GrokClient(Settings.load(base_url=srv.base_url)).complete(BODY))
    finally:
        srv.api_key = FAKE_KEY
    return collected


def texts_of(err: BaseException) -> list[str]:
    """Everything a person or a traceback could show of `err`, its causes and contexts too."""
    out = [str(err), repr(err), *map(str, err.args)]
    for linked in (err.__cause__, err.__context__):
        if linked is not None:
            out += texts_of(linked)
    if isinstance(err, GrokError):
        out += [err.paragraph(), err.message, str(err.code), err.title,
                *err._render_traceback_()]
        response = getattr(err, "response", None)
        if response is not None:
            out += [repr(response), response.text]
    return out


@pytest.mark.parametrize("key", [FAKE_KEY, CUSTOM_KEY], ids=["xai-key", "custom-key"])
def test_the_key_appears_in_no_error_text(xai_server, monkeypatch, key):
    collected = every_error(xai_server, key, monkeypatch)
    kinds = {type(e) for e in collected}
    assert {BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError,
            ServerError, GoneError, UnprocessableError, RateLimitError, CreditsExhaustedError,
            APIConnectionError, APITimeoutError, StreamInterruptedError, ConfigError,
            MissingKeyError, APIStatusError} <= kinds
    assert len(collected) > 80
    for err in collected:
        for text in texts_of(err):
            assert key not in text, (type(err).__name__, text)
            assert key[6:] not in text, (type(err).__name__, text)
    # The client and its settings never show the key either.
    client = make_client(xai_server, key=key)
    assert key not in repr(client) and key not in repr(client.settings)


def test_key_echoed_inside_a_stream_error_event_is_masked(xai_server):
    xai_server.enqueue(Reply("a b", error_event={"code": "x", "error": f"key {CUSTOM_KEY}"},
                             error_after=1))
    client = make_client(xai_server, key=FAKE_KEY)
    GrokClient(Settings.load(api_key=CUSTOM_KEY))  # registers the other key as well
    err = raised(lambda: client.stream(BODY).until_done())
    assert CUSTOM_KEY not in str(err) and "key ***" in err.message

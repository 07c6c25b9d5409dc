"""GrokClient end to end against the local xAI stand-in: request bodies, keep-alive, models,
retries and their delays, timeouts, refused connections, cut streams, Stop from another thread,
and the request builders and Conversation on the wire."""

from __future__ import annotations

import email.utils
import socket
import struct
import threading
import time
import zlib

import pytest

from grok_magic.ask import Ask
from grok_magic.conversation import Conversation
from grok_magic.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    CreditsExhaustedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    UnexpectedResponseError,
)
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient, ModelInfo
from grok_magic.xai.messages import build_request, json_schema_format, user_message
from grok_magic.xai.response import Price
from grok_magic.xai.streams import Delta, ResponseStream
from grok_magic.xai.transport import MAX_RETRY_AFTER, retry_delay
from tests.support.clients import FakeSleep, make_client
from tests.support.xai_standin import FAKE_KEY, Close, Fault, Hang, Reply, Stream

BODY = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def client(xai_server, sleep) -> GrokClient:
    client = make_client(xai_server, sleep)
    yield client
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def full_backlog():
    """A listening socket whose accept queue is full: new connections never complete."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(listener.getsockname())
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.05)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    for s in [*fillers, listener]:
        s.close()


def tiny_png() -> bytes:
    """A valid 1x1 red PNG (no Pillow needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def png_part(detail: str = "auto") -> dict:
    import base64

    url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


# -- what goes on the wire -----------------------------------------------------------------
def test_complete_sends_a_plain_request(client, xai_server):
    xai_server.enqueue(Reply("Hello there"))
    response = client.complete({**BODY, "stream": True, "stream_options": {"include_usage": True}})
    assert response.text == "Hello there" and response.complete
    request = xai_server.chat_requests[-1]
    assert request.json == BODY  # `stream` is forced off: the fields are dropped, not set false
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("grok_magic/")


def test_stream_always_asks_for_usage(client, xai_server):
    xai_server.enqueue(Reply("Hello there", headers={"x-request-id": "req-s"}))
    stream = client.stream({**BODY, "stream_options": {"include_usage": False}})
    assert isinstance(stream, ResponseStream) and stream.request_id == "req-s"
    deltas = list(stream)
    assert all(isinstance(d, Delta) for d in deltas)
    assert "".join(d.content for d in deltas) == "Hello there"
    request = xai_server.chat_requests[-1].json
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert xai_server.chat_requests[-1].headers["Accept"] == "text/event-stream"
    assert stream.response.usage is not None and stream.response.usage.total_tokens > 0


def test_unicode_request_body_is_utf8_json(client, xai_server):
    body = {"model": "grok-4", "messages": [{"role": "user", "content": "Olá — 40°C 🚀"}]}
    xai_server.enqueue(Reply("ok"))
    client.complete(body)
    assert xai_server.chat_requests[-1].json == body
    assert "Olá — 40°C 🚀".encode() in xai_server.chat_requests[-1].body


def test_request_builders_on_the_wire(client, xai_server):
    turn = user_message(["Compare ", png_part("low"), " with ", png_part(), " please "])
    assert [p["type"] for p in turn["content"]] == ["text", "image_url", "text", "image_url",
                                                    "text"]
    body = build_request("grok-4", [turn], stream=False, temperature=None, seed=7,
                         max_completion_tokens=None, response_format=json_schema_format(
                             {"type": "object", "properties": {"x": {"type": "integer"}}}))
    response = client.complete(body)
    sent = xai_server.chat_requests[-1].json
    assert set(sent) == {"model", "messages", "seed", "response_format"}
    parts = sent["messages"][0]["content"]
    assert [p.get("text") for p in parts] == ["Compare", None, "with", None, "please"]
    assert parts[1]["image_url"]["detail"] == "low" and parts[3]["image_url"]["detail"] == "auto"
    assert response.json() == {"x": 42}
    assert "I received" not in response.text  # structured output, not the chatty default
    assert user_message(["Just ", "text "]) == {"role": "user", "content": "Just text"}
    with pytest.raises(TypeError, match="unknown request option"):
        build_request("grok-4", [turn], temprature=1)
    streaming = build_request("grok-4", [turn], stream=True)
    assert streaming["stream"] is True and streaming["stream_options"] == {"include_usage": True}


def test_image_first_then_text_keeps_the_order(client, xai_server):
    turn = user_message([png_part(), "What is this?"])
    client.complete(build_request("grok-4", [turn]))
    parts = xai_server.chat_requests[-1].json["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    assert "I received 1 image(s)." in client.complete(build_request("grok-4", [turn])).text


def test_conversation_keeps_only_complete_turns(client, xai_server):
    convo = Conversation(system="Be brief.")
    first = user_message(["One?"])
    xai_server.enqueue(Reply("Uno."))
    assert convo.send(client, Ask(first, "grok-4", stream=False)).text == "Uno."
    xai_server.enqueue(Fault(400))
    with pytest.raises(BadRequestError):
        convo.send(client, Ask(user_message(["Two?"]), "grok-4", stream=False))
    xai_server.enqueue(Reply("due tre", cut_after=1))
    stream = convo.stream(client, Ask(user_message(["Three?"]), "grok-4"))
    with pytest.raises(StreamInterruptedError):
        stream.until_done()  # the cut-off answer records itself (end hook), not in the history
    xai_server.enqueue(Reply("Quattro."))
    convo.send(client, Ask(user_message(["Four?"]), "grok-4", options={"temperature": 0.5},
                           stream=False))
    sent = xai_server.answer_requests[-1].as_chat
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        ("system", "Be brief."), ("user", "One?"), ("assistant", "Uno."), ("user", "Four?")]
    assert sent["temperature"] == 0.5
    assert convo.turns == 2 and len(convo.responses) == 3
    # The cut-off answer is billed too: its tokens and cost by estimate (no usage came).
    cut = convo.responses[1]
    assert cut.usage is None and not cut.cost_exact and cut.billed_usage.total_tokens > 0
    assert convo.totals.total_tokens == sum(r.billed_usage.total_tokens for r in convo.responses)
    assert convo.total_cost == pytest.approx(sum(r.cost for r in convo.responses))


# -- keep-alive ------------------------------------------------------------------------------
def test_one_session_and_one_connection_for_many_requests(client, xai_server):
    session = client.session
    xai_server.enqueue(Reply("a"), Reply("b c d"), Reply("e"))
    client.complete(BODY)
    client.stream(BODY).until_done()
    client.complete(BODY)
    client.list_models()
    assert client.session is session
    peers = {r.client for r in xai_server.requests}
    assert len(xai_server.requests) == 4 and len(peers) == 1, peers


def test_error_answers_do_not_cost_the_connection(client, xai_server):
    xai_server.enqueue(Fault(404), Fault(503), Reply("ok"))
    with pytest.raises(NotFoundError):
        client.complete(BODY)
    assert client.complete(BODY).text == "ok"
    assert len({r.client for r in xai_server.requests}) == 1


# -- models -------------------------------------------------------------------------------
def test_list_models_from_language_models(client, xai_server):
    models = {m.id: m for m in client.list_models()}
    assert xai_server.requests[-1].path == "/v1/language-models"
    grok = models["grok-4.3"]
    assert "grok-4" in grok.aliases and grok.image_input is True
    assert grok.price == Price(input=1.25, cached_input=0.20, output=2.50, image_input=1.25)
    mini = models["grok-3-mini"]
    assert mini.image_input is False
    assert mini.price.input == pytest.approx(0.30) and mini.price.cached_input == pytest.approx(0.075)
    assert mini.price.output == pytest.approx(0.50)
    assert models["grok-4.20-0309-reasoning"].price.output == pytest.approx(2.50)


def test_list_models_falls_back_to_models(xai_server, sleep):
    # A base URL under the stand-in's /files/ area: /language-models is missing (404) there.
    listing = b'{"object": "list", "data": [{"id": "grok-4.3", "object": "model"}, {"id": "x"}]}'
    xai_server.serve_bytes("fallback/models", listing, "application/json")
    client = make_client(xai_server, sleep, base_url=f"{xai_server.url}/files/fallback")
    assert client.list_models() == [ModelInfo(id="grok-4.3"), ModelInfo(id="x")]
    assert [r.path for r in xai_server.requests] == [
        "/files/fallback/language-models", "/files/fallback/models"]
    assert sleep.delays == []


def test_list_models_with_a_wrong_key_does_not_fall_back(xai_server):
    client = make_client(xai_server, api_key="xai-not-the-right-one-000")
    with pytest.raises(AuthenticationError):
        client.list_models()
    assert [r.path for r in xai_server.requests] == ["/v1/language-models"]


# -- retries and their delays ----------------------------------------------------------------
def test_retry_after_seconds(client, xai_server, sleep):
    xai_server.enqueue(Fault.rate_limited(2), Reply("ok"))
    assert client.complete(BODY).text == "ok"
    assert sleep.delays == [2.0]
    assert len(xai_server.chat_requests) == 2


def test_retry_after_ms(client, xai_server, sleep):
    xai_server.enqueue(Fault.rate_limited(1.5, ms=True), Fault(503, headers={"retry-after-ms": "250"}),
                       Reply("ok"))
    client.stream(BODY).until_done()
    assert sleep.delays == [1.5, 0.25]


def test_retry_after_http_date(client, xai_server, sleep):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    xai_server.enqueue(Fault(503, headers={"Retry-After": when}), Reply("ok"))
    client.complete(BODY)
    assert 27 <= sleep.delays[0] <= 30


def test_retry_after_is_capped(client, xai_server, sleep):
    far = email.utils.formatdate(time.time() + 86400, usegmt=True)
    xai_server.enqueue(Fault.rate_limited(3600), Fault(503, headers={"Retry-After": far}),
                       Reply("ok"))
    client.complete(BODY)
    assert sleep.delays == [MAX_RETRY_AFTER, MAX_RETRY_AFTER] and MAX_RETRY_AFTER == 60


def test_unusable_retry_after_falls_back_to_backoff(xai_server, sleep):
    client = make_client(xai_server, sleep, max_retries=3)
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    xai_server.enqueue(Fault(503, headers={"Retry-After": "soon"}),
                       Fault(503, headers={"retry-after-ms": "nan"}),
                       Fault(503, headers={"Retry-After": past}), Reply("ok"))
    client.complete(BODY)
    assert 0.375 <= sleep.delays[0] <= 0.5 and 0.75 <= sleep.delays[1] <= 1.0
    assert sleep.delays[2] == 0.0  # a date in the past: go now


def test_exponential_backoff_with_jitter_and_a_cap(xai_server, sleep):
    client = make_client(xai_server, sleep, max_retries=6)
    xai_server.enqueue(*[Fault(500)] * 7)
    with pytest.raises(ServerError, match="after 7 attempts"):
        client.complete(BODY)
    assert len(sleep.delays) == 6
    for attempt, delay in enumerate(sleep.delays):
        base = min(0.5 * 2**attempt, 8.0)
        assert 0.75 * base <= delay <= base, (attempt, delay)
    assert sleep.delays[4] <= 8.0 and sleep.delays[5] <= 8.0 and sleep.delays[3] >= 3.0


def test_backoff_is_jittered():
    delays = {retry_delay(1) for _ in range(20)}
    assert len(delays) > 1 and all(0.75 <= d <= 1.0 for d in delays)


def test_default_is_two_retries(client, xai_server, sleep):
    xai_server.enqueue(*[Fault(502)] * 3, Reply("never reached"))
    with pytest.raises(ServerError) as info:
        client.complete(BODY)
    assert len(xai_server.chat_requests) == 3 and len(sleep.delays) == 2
    assert "after 3 attempts" in info.value.message and xai_server.pending == 1


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retried_statuses_then_success(client, xai_server, sleep, status):
    xai_server.enqueue(Fault(status), Fault(status), Reply("finally"))
    assert client.complete(BODY).text == "finally"
    assert len(xai_server.chat_requests) == 3 and len(sleep.delays) == 2


@pytest.mark.parametrize(
    ("fault", "cls"),
    [(Fault(400), BadRequestError), (Fault(401), AuthenticationError),
     (Fault(403), PermissionDeniedError), (Fault(404), NotFoundError),
     (Fault.credits(429, headers={"Retry-After": "1"}), CreditsExhaustedError),
     (Fault.credits(403), CreditsExhaustedError)],
)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
def test_not_retried(client, xai_server, sleep, fault, cls, streaming):
    xai_server.enqueue(fault, Reply("must not be fetched"))
    with pytest.raises(cls):
        client.stream(BODY) if streaming else client.complete(BODY)
    assert len(xai_server.chat_requests) == 1 and sleep.delays == []


def test_a_plain_429_is_retried_but_credits_never(client, xai_server, sleep):
    xai_server.enqueue(Fault(429), Fault.credits(429), Reply("no"))
    with pytest.raises(CreditsExhaustedError) as info:
        client.complete(BODY)
    assert len(xai_server.chat_requests) == 2 and len(sleep.delays) == 1
    assert not info.value.retryable and "retrying won't help" in str(info.value)


def test_no_retries_when_max_retries_is_zero(xai_server, sleep):
    client = make_client(xai_server, sleep, max_retries=0)
    xai_server.enqueue(Fault(503), Reply("no"))
    with pytest.raises(ServerError) as info:
        client.complete(BODY)
    assert "attempts" not in info.value.message and sleep.delays == []


def test_dropped_connection_before_the_answer_is_retried(client, xai_server, sleep):
    xai_server.enqueue(Close(), Close(), Reply("third time"))
    assert client.complete(BODY).text == "third time"
    assert len(xai_server.chat_requests) == 3 and len(sleep.delays) == 2


def test_no_retry_once_a_stream_has_started(client, xai_server, sleep):
    xai_server.enqueue(Reply("one two three four", cut_after=3), Reply("must not be fetched"))
    stream = client.stream(BODY)
    with pytest.raises(StreamInterruptedError) as info:
        stream.until_done()
    err = info.value
    assert err.response is stream.response
    assert err.response.partial and not err.response.stopped
    assert err.response.text == "one two three"
    assert "broke mid-answer" in err.message
    assert len(xai_server.chat_requests) == 1 and sleep.delays == []


# -- connection failures and timeouts ---------------------------------------------------------
def test_refused_connection_is_an_api_connection_error_after_retries(sleep):
    client = GrokClient(Settings(api_key=FAKE_KEY, base_url=f"http://127.0.0.1:{free_port()}/v1"),
                        sleep=sleep)
    with pytest.raises(APIConnectionError) as info:
        client.complete(BODY)
    err = info.value
    assert type(err) is APIConnectionError
    assert "connection refused" in err.message and "after 3 attempts" in err.message
    assert len(sleep.delays) == 2
    assert "XAI_BASE_URL" in err.paragraph()


def test_connect_timeout(full_backlog, sleep):
    client = GrokClient(Settings(api_key=FAKE_KEY, base_url=full_backlog, connect_timeout=0.2),
                        sleep=sleep)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="could not connect .* within 0.2 s"):
        client.complete(BODY)
    assert time.monotonic() - started < 3
    assert len(sleep.delays) == 2  # connecting is safe to retry: nothing was sent


def test_read_timeout_waiting_for_the_answer(client, xai_server, sleep):
    xai_server.enqueue(Hang(3), Reply("too late"))
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="no answer .* within 0.3 s"):
        client.complete(BODY, timeout=0.3)
    assert time.monotonic() - started < 2
    assert len(xai_server.chat_requests) == 1 and sleep.delays == []


def test_read_timeout_for_a_stream_that_never_starts(client, xai_server):
    xai_server.enqueue(Reply("late", first_delay=3))
    with pytest.raises(APITimeoutError):
        client.stream(BODY, timeout=0.3)


def test_read_timeout_in_the_middle_of_a_stream(client, xai_server):
    xai_server.enqueue(Reply("a b c d e", delay=1.5))
    stream = client.stream(BODY, timeout=0.4)
    with pytest.raises(StreamInterruptedError, match="read timeout") as info:
        stream.until_done()
    assert info.value.response.partial and info.value.response.text == "a"


def test_read_timeout_in_the_middle_of_a_whole_answer(client, xai_server, sleep):
    xai_server.enqueue(Reply("a long answer", split=10, delay=1.5))
    with pytest.raises(APITimeoutError, match="broke while the answer was arriving"):
        client.complete(BODY, timeout=0.4)
    assert len(xai_server.chat_requests) == 1 and sleep.delays == []


def test_settings_timeouts_reach_requests(xai_server):
    client = make_client(xai_server, read_timeout=0.3)
    xai_server.enqueue(Hang(3))
    with pytest.raises(APITimeoutError, match="within 0.3 s"):
        client.complete(BODY)


# -- how streams end -----------------------------------------------------------------------
def chunk(content: str = "", finish: str | None = None) -> dict:
    choice: dict = {"index": 0, "delta": {"content": content} if content else {}}
    if finish:
        choice["finish_reason"] = finish
    return {"id": "c1", "object": "chat.completion.chunk", "model": "grok-4.3", "choices": [choice]}


def test_stream_ending_without_done_or_finish_is_interrupted(client, xai_server):
    xai_server.enqueue(Stream(events=[chunk("Hel"), chunk("lo")], no_done=True))
    stream = client.stream(BODY)
    with pytest.raises(StreamInterruptedError, match="ended before the answer was complete") as info:
        stream.until_done()
    assert info.value.response.text == "Hello" and info.value.response.partial


def test_stream_with_finish_reason_but_no_done_is_complete(client, xai_server):
    xai_server.enqueue(Stream(events=[chunk("Hi"), chunk(finish="stop")], no_done=True))
    response = client.stream(BODY).until_done()
    assert response.complete and response.text == "Hi" and response.finish_reason == "stop"


def test_stream_with_done_but_no_finish_reason_is_complete(client, xai_server):
    xai_server.enqueue(Stream(events=[chunk("Hi")]))
    response = client.stream(BODY).until_done()
    assert response.complete and response.finish_reason is None


def test_keep_alive_comments_and_crlf_over_http(client, xai_server):
    xai_server.enqueue(Reply("Olá — mundo", comments=True, crlf=True, split=3))
    assert client.stream(BODY).until_done().text == "Olá — mundo"


def test_non_json_answer_to_complete(client, xai_server):
    xai_server.enqueue(Stream(events=["<html>oops</html>"], content_type="application/json",
                              no_done=True))
    with pytest.raises(UnexpectedResponseError, match="expected JSON"):
        client.complete(BODY)


PORTAL = "<html><head><title>Hotel Wi-Fi</title></head><body>Please log in " + "x" * 500 + "</body></html>"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_a_proxy_page_instead_of_an_answer_says_what_came(client, xai_server, stream):
    xai_server.enqueue(Fault(200, PORTAL, content_type="text/html; charset=utf-8"))
    with pytest.raises(UnexpectedResponseError) as info:
        client.stream(BODY).until_done() if stream else client.complete(BODY)
    text = str(info.value)
    assert "text/html" in text and "Hotel Wi-Fi" in text and "proxy" in text and "XAI_BASE_URL" in text
    assert "incomplete" not in text.lower() and "cut off" not in text
    assert len(text) < 700  # a preview of the page, not all of it


def test_json_instead_of_a_stream_says_what_came(client, xai_server):
    xai_server.enqueue(Fault(200, {"id": "x", "choices": []}))
    with pytest.raises(UnexpectedResponseError, match="application/json") as info:
        client.stream(BODY).until_done()
    assert "event stream" in str(info.value)


def test_a_redirect_is_not_followed(client, xai_server):
    xai_server.enqueue(Fault(302, "", headers={"Location": "http://127.0.0.1:9/elsewhere"}))
    with pytest.raises(ConfigError, match="redirect") as info:
        client.complete(BODY)
    assert "127.0.0.1:9/elsewhere" in str(info.value) and len(xai_server.requests) == 1


def test_until_done_calls_back_for_each_delta(client, xai_server):
    xai_server.enqueue(Reply("a b c", reasoning="think more"))
    seen: list[Delta] = []
    response = client.stream(BODY).until_done(seen.append)
    assert "".join(d.reasoning for d in seen) == "think more" == response.reasoning
    assert "".join(d.content for d in seen) == "a b c" == response.text


# -- stopping --------------------------------------------------------------------------------
def test_close_from_another_thread_stops_a_slow_stream_promptly(client, xai_server):
    words = " ".join(f"w{i}" for i in range(40))
    xai_server.enqueue(Reply(words, delay=0.5))
    stream = client.stream(BODY)
    received: list[str] = []
    closed_at: list[float] = []

    def stop_soon():
        closed_at.append(time.monotonic())
        stream.close()

    timer = None
    for delta in stream:
        received.append(delta.content)
        if len(received) == 3 and timer is None:
            timer = threading.Timer(0.2, stop_soon)  # lands while the reader waits in recv()
            timer.start()
    ended = time.monotonic()
    timer.join()
    assert ended - closed_at[0] < 0.4, "close() did not interrupt the blocked read"
    response = stream.response
    assert response.stopped and response.partial and stream.stopped
    assert response.text == "".join(received) and response.text.startswith("w0 w1 w2")
    assert len(received) < 10


def test_close_before_reading_releases_the_stream(client, xai_server):
    xai_server.enqueue(Reply("never read", delay=0.3))
    stream = client.stream(BODY)
    stream.close()
    assert stream.response.stopped and list(stream) == [] and stream.response.text == ""
    xai_server.enqueue(Reply("next"))
    assert client.complete(BODY).text == "next"  # the session still works


def test_leaving_the_loop_early_keeps_what_arrived(client, xai_server):
    xai_server.enqueue(Reply("one two three four five", delay=0.05))
    stream = client.stream(BODY)
    with stream:
        for delta in stream:
            if "two" in delta.content:
                break
    stream.close()
    iterator = iter(stream)
    assert list(iterator) == []
    assert stream.response.text_so_far == "one two"


# -- configuration problems --------------------------------------------------------------------
def test_a_key_that_cannot_be_sent_is_a_config_error(xai_server):
    client = make_client(xai_server, api_key="xai-abc\ndef-0123456789")
    with pytest.raises(ConfigError, match="cannot be sent") as info:
        client.complete(BODY)
    assert "def-0123456789" not in str(info.value)
    assert xai_server.requests == []


@pytest.mark.parametrize("base_url", ["api.x.ai/v1", "ftp://example.com/v1", "http://"])
def test_an_unusable_base_url_is_a_config_error(base_url):
    client = GrokClient(Settings(api_key=FAKE_KEY, base_url=base_url), sleep=FakeSleep())
    with pytest.raises(ConfigError, match="not a usable http"):
        client.complete(BODY)


def test_client_from_env(xai_env):
    xai_env.enqueue(Reply("from env"))
    client = GrokClient.from_env()
    assert client.complete(BODY).text == "from env"
    assert repr(client) == f"GrokClient(base_url={xai_env.base_url!r}, key=set)"
    assert GrokClient().settings.base_url == xai_env.base_url


def test_rate_limit_error_carries_xais_words(client, xai_server):
    xai_server.enqueue(*[Fault.rate_limited(1)] * 3)
    with pytest.raises(RateLimitError, match="exceeded the rate limit"):
        client.complete(BODY)


def test_conversation_memory_is_bounded(xai_env):
    convo = Conversation(max_history=2)
    client = GrokClient(Settings.load())
    for n in range(5):
        convo.send(client, Ask({"role": "user", "content": f"q{n}"}, "grok-4", stream=False))
    assert [m["content"] for m in convo.messages if m["role"] == "user"] == ["q3", "q4"]
    assert convo.answers == 5 and convo.turns == 2


@pytest.mark.parametrize("streaming", [True, False])
def test_cost_without_ticks_uses_live_prices_once(xai_env, streaming):
    """No cost_in_usd_ticks: price from /v1/language-models (fetched once), not the table."""
    # A prompt under 200k tokens: the short-context prices (from 200k on, every price is 2x).
    usage = {"prompt_tokens": 100_000, "completion_tokens": 1_000_000, "total_tokens": 1_100_000,
             "prompt_tokens_details": {"cached_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0}}
    client = GrokClient(Settings.load())
    body = {"model": "grok-code-fast", "messages": [{"role": "user", "content": "hi"}]}  # an alias
    for _ in range(2):
        xai_env.enqueue(Reply(content="ok", usage=usage))
        response = client.stream(body).until_done() if streaming else client.complete(body)
        # The stand-in's grok-code-fast-1 prices, not the built-in table's (grok-4.3's for this
        # retired name).
        assert response.cost == pytest.approx(0.02 + 1.50)
        assert response.cost_source.startswith("xAI's price list of ")
    assert sum(r.path.endswith("/language-models") for r in xai_env.requests) == 1


# -- logging ---------------------------------------------------------------------------------
def test_requests_and_retries_are_logged_without_key_or_text(client, xai_server, caplog):
    import logging

    xai_server.enqueue(Fault(503), Reply("secret answer words"))
    with caplog.at_level(logging.DEBUG, logger="grok_magic"):
        client.complete({"model": "grok-4", "messages": [{"role": "user", "content": "private words"}]})
    lines = [r.getMessage() for r in caplog.records if r.name == "grok_magic"]
    assert any(line.startswith("POST /chat/completions model=grok-4 body=") and "status=503" in line
               for line in lines), lines
    assert any("status=200" in line and "request_id=" in line for line in lines), lines
    assert any(line.startswith("retry 1 of POST /chat/completions after 503") for line in lines)
    blob = "\n".join(lines)
    assert FAKE_KEY not in blob and "private words" not in blob and "secret answer" not in blob


def test_nothing_is_logged_by_default(client, xai_server, capfd):
    xai_server.enqueue(Reply("hi"))
    client.complete(BODY)
    out, err = capfd.readouterr()
    assert out == "" and err == ""

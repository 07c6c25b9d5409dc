"""A hostile server cannot hang the kernel or fill its memory: through %%grok and GrokClient to
the stand-in, every such answer ends within its deadline, stall deadline or size cap as an
incomplete answer (the part that arrived kept, shown and recorded), unreadable answers are named
and never sent again, and a kept-alive connection the server closed while idle is replaced."""

from __future__ import annotations

import gc
import logging
import time
import tracemalloc

import pytest

from grok_magic.errors import (
    AnswerLimitError,
    APIConnectionError,
    UnexpectedResponseError,
)
from grok_magic.xai.client import GrokClient
from tests.support.clients import FakeSleep, make_client
from tests.support.magic_helpers import magic_shell, run
from tests.support.standin_responses import enqueue_responses
from tests.support.xai_standin import FAKE_KEY, Close, IdleClose, Raw, Reply, Stream

BODY = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}
# What these faults would take unchecked: forever, or a minute at one byte a second. Every
# case must end well before it (the limits in the tests are one or two seconds).
BOUND = 20.0


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def ip(xai_env):
    shell = magic_shell(max_retries=2, stall_timeout=1.0, deadline=3.0, max_answer_chars=20_000,
                        timeout=10.0)
    yield shell
    ledger = shell.grok_magics.recorder.ledger
    if ledger is not None:
        ledger.close()


def timed_run(ip, source: str):
    started = time.monotonic()
    out = run(ip, source)
    assert time.monotonic() - started < BOUND, "the cell did not end within its limits"
    return out


def last_row(ip):
    return ip.grok_magics.recorder.ledger.entries()[-1]


def assert_incomplete(ip, out, *phrases):
    """The cell ended with one paragraph naming the limit, the part that arrived shown under an
    incomplete note, kept in _grok and recorded in the ledger as incomplete."""
    assert isinstance(out.error, AnswerLimitError), (type(out.error), out.everything())
    text = out.stdout + out.stderr + str(out.error)
    assert "Traceback" not in text
    for phrase in phrases:
        assert phrase in str(out.error), (phrase, str(out.error))
    response = ip.user_ns["_grok"]
    assert response.partial and not response.stopped and response.status == "incomplete"
    assert response.error == out.error.paragraph()
    assert "incomplete" in out.shown()
    row = last_row(ip)
    assert row.status == "incomplete" and row.answer == response.text
    assert all(p in row.error for p in phrases)
    return response


# -- through %%grok ---------------------------------------------------------------------------
def test_an_endless_stream_stops_at_the_size_cap(ip, xai_env):
    xai_env.enqueue(Reply.endless("and on "))
    out = timed_run(ip, "%%grok\nTell me everything")
    response = assert_incomplete(ip, out, "cut off at 20,000 characters",
                                 "GrokMagics.max_answer_chars")
    assert 20_000 <= len(response.text) < 20_100 and response.text.startswith("and on and on")
    assert response.text[:200] in out.shown().replace("\n", " ")
    assert len(xai_env.answer_requests) == 1


def test_keep_alives_only_hit_the_stall_deadline(ip, xai_env):
    xai_env.enqueue(Reply.keepalives_only("The start of an answer"))
    out = timed_run(ip, "%%grok\nHello")
    response = assert_incomplete(ip, out, "nothing but keep-alives", "1 s",
                                 "GrokMagics.stall_timeout")
    assert response.text == "The start of an answer"
    assert "The start of an answer" in out.shown()


def test_a_stream_at_one_byte_a_second_hits_the_stall_deadline(ip, xai_env):
    xai_env.enqueue(Reply.trickle())
    out = timed_run(ip, "%%grok\nHello")
    assert_incomplete(ip, out, "GrokMagics.stall_timeout")
    assert len(xai_env.answer_requests) == 1


def test_a_stream_that_never_ends_hits_the_deadline(ip, xai_env):
    ip.grok_magics.stall_timeout = 60.0  # events keep coming: only the deadline can stop it
    xai_env.enqueue(Reply.endless("slowly ", delay=0.05))
    out = timed_run(ip, "%%grok\nHello")
    response = assert_incomplete(ip, out, "still arriving at the 3 s deadline",
                                 "GrokMagics.deadline")
    assert response.text.startswith("slowly slowly")


def test_headers_at_one_byte_a_second_are_cut_and_not_sent_again(ip, xai_env):
    xai_env.enqueue(Reply.slow_headers(), Reply("must not be fetched"))
    out = timed_run(ip, "%%grok\nHello")
    assert isinstance(out.error, AnswerLimitError), out.everything()
    assert "headers were still arriving 1 s after their first byte" in str(out.error)
    assert "no answer" in out.shown()
    assert len(xai_env.answer_requests) == 1 and xai_env.pending == 1


def test_no_stream_body_at_one_byte_a_second_hits_the_deadline(ip, xai_env):
    xai_env.enqueue(Reply("A whole answer, sent slowly.", split=1, delay=1.0))
    out = timed_run(ip, "%%grok --no-stream\nHello")
    assert isinstance(out.error, AnswerLimitError), out.everything()
    assert "3 s deadline (GrokMagics.deadline)" in str(out.error)
    assert len(xai_env.answer_requests) == 1


def test_a_huge_json_answer_is_not_read_to_the_end(ip, xai_env):
    ip.grok_magics.max_answer_chars = 1000  # a body may take 4 bytes a character and 1 MiB
    xai_env.enqueue(Reply("x" * 3_000_000))
    out = timed_run(ip, "%%grok --no-stream\nHello")
    assert isinstance(out.error, AnswerLimitError), out.everything()
    assert "larger than 1,052,576 bytes and was not read to the end" in str(out.error)
    assert "x" * 1000 not in out.everything()


@pytest.mark.parametrize("fault, problem", [
    (Reply.huge_header(), "a header line longer than 65,536 bytes"),
    (Reply.many_headers(), "more than 100 header lines"),
    (Raw.malformed_status(), "a malformed status line 'HTPP/1.1 200 OK'"),
])
def test_an_unreadable_answer_is_named_and_not_sent_again(ip, xai_env, fault, problem):
    xai_env.enqueue(fault, Reply("must not be fetched"), Reply("nor this"))
    out = timed_run(ip, "%%grok\nHello")
    assert type(out.error) is UnexpectedResponseError, out.everything()
    message = str(out.error)
    assert problem in message and "cannot be read" in message
    assert "Cannot reach" not in message and "network connection" not in message
    assert len(xai_env.answer_requests) == 1 and xai_env.pending == 2


def test_a_kept_alive_connection_closed_while_idle_is_replaced(ip, xai_env, caplog):
    assert timed_run(ip, "%%grok\nFirst").error is None
    xai_env.enqueue(IdleClose(), Reply("The second answer."))
    with caplog.at_level(logging.INFO, logger="grok_magic"):
        out = timed_run(ip, "%%grok\nSecond")
    assert out.error is None, out.everything()
    assert "The second answer." in out.shown() and "no answer" not in out.shown()
    assert ip.user_ns["_grok"].complete
    logged = caplog.text
    assert "closed the idle connection" in logged and "retry" not in logged
    assert last_row(ip).status == "ok"
    first, second = xai_env.answer_requests  # the dropped request never reached the server
    assert first.client != second.client


# -- through GrokClient ------------------------------------------------------------------------
def test_an_endless_stream_takes_bounded_memory(xai_server):
    cap = 50_000
    client = make_client(xai_server, max_answer_chars=cap)
    xai_server.enqueue(Reply("warm up"), Reply.endless("and on "))
    client.stream(BODY).until_done()  # imports and the connection, before measuring
    gc.collect()
    tracemalloc.start()
    try:
        with pytest.raises(AnswerLimitError) as info:
            client.stream(BODY).until_done()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        client.close()
    assert len(info.value.response.text) >= cap
    # Kept as one small string per token, the text alone would take some 20 bytes a character.
    assert peak < 10 * cap, peak


def test_an_event_that_never_ends_is_capped(xai_server):
    client = make_client(xai_server, max_answer_chars=1000)
    xai_server.enqueue(Stream(events=[b"data: " + b"x" * 10_000], endless=True))
    tracemalloc.start()
    try:
        with pytest.raises(AnswerLimitError, match="1,052,576 bytes without") as info:
            client.stream(BODY).until_done()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        client.close()
    assert info.value.response.partial and info.value.response.text == ""
    assert peak < 8 * 1_052_576, peak


def test_a_responses_stream_stops_at_the_size_cap(xai_server):
    client = make_client(xai_server, max_answer_chars=5000)
    delta = {"type": "response.output_text.delta", "delta": "more ", "item_id": "m1",
             "output_index": 0, "content_index": 0}
    enqueue_responses(xai_server, Stream(events=[delta], endless=True))
    body = {"model": "grok-4", "input": [{"role": "user", "content": "hi"}]}
    with pytest.raises(AnswerLimitError, match="5,000 characters") as info:
        client.respond_stream(body).until_done()
    response = info.value.response
    assert response.partial and 5000 <= len(response.text) < 5010
    client.close()


def test_limits_are_settings_for_scripts(xai_server):
    client = GrokClient.from_env(FAKE_KEY, base_url=xai_server.base_url, stall_timeout=0.5)
    assert client.settings.stall_timeout == 0.5
    assert client.settings.deadline == 3600 and client.settings.max_answer_chars == 2_000_000
    xai_server.enqueue(Reply.keepalives_only("so far"))
    started = time.monotonic()
    with pytest.raises(AnswerLimitError, match="keep-alives or stray bytes for 0.5 s") as info:
        client.stream(BODY).until_done()
    assert time.monotonic() - started < BOUND
    assert info.value.response.text == "so far"
    client.close()


@pytest.mark.parametrize("streaming", [False, True])
def test_idle_close_is_replaced_once_without_a_retry(xai_server, sleep, streaming):
    client = make_client(xai_server, sleep, max_retries=0)
    send = (lambda: client.stream(BODY).until_done()) if streaming else (
        lambda: client.complete(BODY))
    xai_server.enqueue(Reply("one"), IdleClose(), Reply("two"))
    assert send().text == "one"
    assert send().text == "two"
    assert sleep.delays == [] and len(xai_server.answer_requests) == 2
    client.close()


def test_a_second_drop_after_replacing_an_idle_connection_is_an_error(xai_server, sleep):
    client = make_client(xai_server, sleep, max_retries=0)
    xai_server.enqueue(Reply("one"), IdleClose(), Close())
    client.complete(BODY)
    with pytest.raises(APIConnectionError):
        client.complete(BODY)  # the new connection dropped too: a real failure
    assert len(xai_server.answer_requests) == 2  # the first, and the one Close dropped
    client.close()


def test_a_new_connection_that_drops_is_still_a_counted_retry(xai_server, sleep):
    client = make_client(xai_server, sleep)
    xai_server.enqueue(Close(), Reply("after a retry"))
    assert client.complete(BODY).text == "after a retry"
    assert len(sleep.delays) == 1
    client.close()

"""ChatSession alone, without widgets: a recording listener, a real client, the local stand-in."""

from __future__ import annotations

import _thread
import json
import subprocess
import sys
import threading
import time

import pytest

from grok_magic.ask import Ask
from grok_magic.chat import ChatSession, Exchange
from grok_magic.conversation import Conversation
from grok_magic.errors import (
    CreditsExhaustedError,
    GrokError,
    InputError,
    InterruptedByUser,
    MissingKeyError,
    StreamInterruptedError,
)
from grok_magic.xai.client import GrokClient
from grok_magic.xai.messages import user_message
from tests.support.xai_standin import Fault, Reply

SLOW_TEXT = " ".join(f"word{i}" for i in range(400))  # ~20 s at 0.05 s an event


class Listener:
    """Records every call a session makes, with the thread it came on."""

    def __init__(self, session_of=lambda: None) -> None:
        self.calls: list[tuple[str, object, str]] = []
        self.text: dict[int, str] = {}
        self.session_of = session_of
        self.at_settled: dict[int, dict] = {}  # what the conversation held when settled was called
        self.fail_on_delta: BaseException | None = None

    def _log(self, name: str, arg) -> None:
        self.calls.append((name, arg, threading.current_thread().name))

    def started(self, exchange: Exchange) -> None:
        self._log("started", exchange)

    def delta(self, exchange: Exchange, delta) -> None:
        self._log("delta", exchange)
        self.text[id(exchange)] = self.text.get(id(exchange), "") + delta.content
        if self.fail_on_delta is not None:
            raise self.fail_on_delta

    def settled(self, exchange: Exchange) -> None:
        self._log("settled", exchange)
        session = self.session_of()
        self.at_settled[id(exchange)] = {
            "messages": list(session.conversation.messages), "busy": session.busy,
            "answers": session.totals.answers,
        }

    def busy_changed(self, busy: bool) -> None:
        self._log("busy_changed", busy)

    def names(self) -> list[str]:
        """Call names, runs of deltas folded into one."""
        out: list[str] = []
        for name, _arg, _thread_name in self.calls:
            if not (name == "delta" and out and out[-1] == "delta"):
                out.append(name)
        return out


def exchange_for(text: str, model: str = "grok-4.3", *, blocking: bool = True, **ask) -> Exchange:
    return Exchange(text=text, parts=[], ask=Ask(user_message([text]), model, **ask),
                    blocking=blocking)


@pytest.fixture
def make_session(xai_env):
    made: list[ChatSession] = []

    def make(conversation: Conversation | None = None, client=None):
        listener = Listener()
        client = client or GrokClient.from_env()
        session = ChatSession(conversation or Conversation(), lambda: client, listener)
        listener.session_of = lambda: session
        made.append(session)
        return session, listener

    yield make
    for session in made:
        if session.busy:
            session.stop()
            session.wait(5)


# -- begin: a worker thread, the listener told in order ---------------------------------------
def test_begin_streams_on_a_worker_and_tells_the_listener_in_order(make_session, xai_env):
    session, listener = make_session()
    xai_env.enqueue(Reply(content="Hello there, world", delay=0.01))
    exchange = session.begin(exchange_for("Hi", blocking=False))
    assert session.busy and session.current is exchange and session.last is exchange
    response = session.wait_for(exchange)
    assert response.text == "Hello there, world" and response.complete
    assert exchange.response is response and exchange.error is None and exchange.done.is_set()
    assert not session.busy and session.current is None
    assert listener.names() == ["started", "busy_changed", "delta", "settled", "busy_changed"]
    assert [arg for name, arg, _t in listener.calls if name == "busy_changed"] == [True, False]
    threads = {name: t for name, _arg, t in listener.calls}
    main = threading.current_thread().name
    assert threads["started"] == main
    assert threads["delta"] == threads["settled"] == "grok-panel-answer"
    assert listener.text[id(exchange)] == response.text
    assert session.exchanges == [exchange]
    body = xai_env.answer_requests[-1].as_chat
    assert body["model"] == "grok-4.3" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_the_ask_is_sent_as_built(make_session, xai_env):
    session, _listener = make_session(Conversation(system="Stored system."))
    session.begin(exchange_for("Bonjour", "grok-3-mini", system="Answer in French.",
                               options={"temperature": 0.2}))
    session.wait()
    body = xai_env.answer_requests[-1].as_chat
    assert body["model"] == "grok-3-mini" and body["temperature"] == 0.2
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert session.conversation.system == "Stored system."  # the ask's system is per request


def test_nothing_to_send_is_refused_before_anything_happens(make_session, xai_env):
    session, listener = make_session()
    with pytest.raises(InputError, match="nothing to send"):
        session.begin(exchange_for("   "))
    assert listener.calls == [] and not session.busy and session.last is None
    assert xai_env.answer_requests == []


def test_one_answer_at_a_time(make_session, xai_env):
    session, listener = make_session()
    xai_env.enqueue(Reply(content="a b c d e f", delay=0.05))
    first = session.begin(exchange_for("one", blocking=False))
    with pytest.raises(InputError, match="still streaming"):
        session.begin(exchange_for("two"))
    with pytest.raises(InputError, match="still streaming"):
        session.take_last_for_retry()
    assert session.wait(10).text == "a b c d e f"
    assert session.exchanges == [first] and len(xai_env.answer_requests) == 1
    assert [name for name, *_ in listener.calls].count("started") == 1


# -- recording: the stream's end hook -------------------------------------------------------
def test_a_complete_answer_records_itself_before_the_listener_hears_it(make_session, xai_env):
    session, listener = make_session()
    recorded: list[tuple[str, object]] = []
    original = session.conversation.record

    def spy(user_turn, response):
        recorded.append((threading.current_thread().name, response))
        return original(user_turn, response)

    session.conversation.record = spy
    exchange = session.begin(exchange_for("first"))
    response = session.wait_for(exchange)
    assert recorded == [("grok-panel-answer", response)]  # once, by the stream, on the worker
    settled = listener.at_settled[id(exchange)]["messages"]
    assert [(m["role"], m["content"]) for m in settled] == [
        ("user", "first"), ("assistant", response.text)]
    assert settled[1]["reasoning_items"] == response.reasoning_items  # carried to the next turn
    assert listener.at_settled[id(exchange)]["busy"]  # settled runs before busy is cleared
    session.wait_for(session.begin(exchange_for("second")))
    roles = [m["role"] for m in xai_env.answer_requests[-1].as_chat["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert session.conversation.turns == 2 and len(recorded) == 2


def test_a_failed_request_records_nothing(make_session, xai_env):
    session, listener = make_session()
    xai_env.enqueue(Fault.credits(429))
    exchange = session.begin(exchange_for("q", blocking=False))
    session.wait(10)
    assert isinstance(exchange.error, CreditsExhaustedError) and exchange.response is None
    assert session.conversation.messages == [] and session.conversation.answers == 0
    assert session.totals.answers == 0 and not session.busy
    assert listener.names() == ["started", "busy_changed", "settled", "busy_changed"]
    with pytest.raises(CreditsExhaustedError):
        session.wait_for(exchange)


def test_a_stream_cut_mid_answer_is_counted_but_not_kept(make_session, xai_env):
    session, _listener = make_session()
    xai_env.enqueue(Reply(content="one two three four five six", cut_after=4))
    exchange = session.begin(exchange_for("q"))
    with pytest.raises(StreamInterruptedError):
        session.wait_for(exchange)
    assert exchange.response.partial and exchange.response.text
    assert session.conversation.messages == []  # an incomplete answer never joins the history
    assert session.conversation.answers == 1 and session.totals.answers == 1


# -- Stop -----------------------------------------------------------------------------------
def test_stop_mid_stream_keeps_the_partial_answer_out_of_the_history(make_session, xai_env):
    session, listener = make_session()
    xai_env.enqueue(Reply(content=SLOW_TEXT, delay=0.05))
    exchange = session.begin(exchange_for("long", blocking=False))
    deadline = time.monotonic() + 10
    while "word3" not in listener.text.get(id(exchange), ""):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    session.stop()
    response = session.wait(10)
    assert time.monotonic() - started < 2
    assert response.stopped and response.text and response.text != SLOW_TEXT
    assert exchange.error is None  # a Stop is not an error
    assert session.conversation.messages == [] and session.conversation.answers == 1
    assert session.totals.answers == 1 and not session.busy
    assert listener.names()[-2:] == ["settled", "busy_changed"]


def test_stop_before_the_first_byte(make_session, xai_env):
    session, _listener = make_session()
    xai_env.enqueue(Reply(content="late answer", first_delay=0.5))
    exchange = session.begin(exchange_for("q", blocking=False))
    time.sleep(0.1)
    session.stop()
    response = session.wait(10)
    assert response.stopped and "late answer" not in response.text
    assert exchange.error is None and session.conversation.messages == []


def test_a_stop_does_not_carry_over_to_the_next_answer(make_session, xai_env):
    session, _listener = make_session()
    session.stop()  # nothing in flight: nothing happens, and the next answer is not stopped
    assert session.wait_for(session.begin(exchange_for("q"))).complete


def test_kernel_interrupt_stops_a_blocking_wait(make_session, xai_env, default_sigint):
    session, _listener = make_session()
    xai_env.enqueue(Reply(content=SLOW_TEXT, delay=0.05))
    exchange = session.begin(exchange_for("long"))
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(InterruptedByUser) as info:
            session.wait_for(exchange)
    finally:
        timer.cancel()
    assert info.value.response is exchange.response and exchange.response.stopped
    assert not session.busy and session.conversation.messages == []


# -- retry, new chat ------------------------------------------------------------------------
def test_retry_takes_the_last_exchange_and_its_answer_out(make_session, xai_env):
    session, _listener = make_session()
    xai_env.enqueue(Reply(content="first try"), Reply(content="second try"))
    first = session.begin(exchange_for("Question"))
    session.wait_for(first)
    assert len(session.conversation.messages) == 2
    taken = session.take_last_for_retry()
    assert taken is first and session.exchanges == [] and session.conversation.messages == []
    again = session.begin(exchange_for(taken.text))
    assert session.wait_for(again).text == "second try"
    assert session.conversation.messages == [
        {"role": "user", "content": "Question"}, {"role": "assistant", "content": "second try"}]
    one, two = xai_env.answer_requests
    assert one.as_chat["messages"] == two.as_chat["messages"]
    assert session.totals.answers == 2  # both answers were paid for


def test_retry_after_an_earlier_turn_keeps_that_turn(make_session, xai_env):
    session, _listener = make_session()
    xai_env.enqueue(Reply(content="A1"), Reply(content="A2"), Reply(content="A2 again"))
    session.wait_for(session.begin(exchange_for("Q1")))
    session.wait_for(session.begin(exchange_for("Q2")))
    session.take_last_for_retry()
    assert [m["content"] for m in session.conversation.messages] == ["Q1", "A1"]
    session.wait_for(session.begin(exchange_for("Q2")))
    assert [m["content"] for m in session.conversation.messages] == ["Q1", "A1", "Q2", "A2 again"]


def test_retry_of_a_failed_exchange_sends_the_same_history(make_session, xai_env):
    session, _listener = make_session()
    xai_env.enqueue(Fault(400), Reply(content="ok"))
    failed = session.begin(exchange_for("retry me", blocking=False))
    session.wait(10)
    assert isinstance(failed.error, GrokError)
    assert session.take_last_for_retry() is failed
    assert session.wait_for(session.begin(exchange_for("retry me"))).text == "ok"
    assert len(session.conversation.messages) == 2


def test_retry_with_nothing_sent_is_refused(make_session):
    session, _listener = make_session()
    with pytest.raises(InputError, match="no question"):
        session.take_last_for_retry()


def test_new_chat_forgets_the_turns_but_keeps_the_totals(make_session, xai_env):
    session, _listener = make_session()
    response = session.wait_for(session.begin(exchange_for("one")))
    session.new_chat()
    assert session.conversation.messages == [] and session.exchanges == []
    assert session.last is None
    assert session.totals.answers == 1 and session.totals.usage.total_tokens == response.usage.total_tokens


def test_new_chat_while_streaming_stops_first(make_session, xai_env):
    session, _listener = make_session()
    xai_env.enqueue(Reply(content=SLOW_TEXT, delay=0.05))
    exchange = session.begin(exchange_for("long", blocking=False))
    time.sleep(0.3)
    session.new_chat()
    assert exchange.done.is_set() and exchange.response.stopped
    assert not session.busy and session.conversation.messages == [] and session.last is None


# -- totals ---------------------------------------------------------------------------------
def test_totals_add_up_every_answer(make_session, xai_env):
    session, _listener = make_session()
    first = session.wait_for(session.begin(exchange_for("one")))
    second = session.wait_for(session.begin(exchange_for("two", "grok-3-mini")))
    totals = session.totals
    assert totals.answers == 2
    assert totals.usage.total_tokens == first.usage.total_tokens + second.usage.total_tokens
    assert totals.usage.prompt_tokens == first.usage.prompt_tokens + second.usage.prompt_tokens
    assert totals.cost == pytest.approx(first.cost + second.cost) and totals.cost > 0
    # The conversation counts the same answers (it is recorded through the stream's end hook).
    assert session.conversation.answers == 2
    assert session.conversation.totals.total_tokens == totals.usage.total_tokens


def test_totals_are_the_sessions_own_on_a_shared_conversation(make_session, xai_env):
    convo = Conversation()
    convo.send(GrokClient.from_env(), Ask(user_message(["from a cell"]), "grok-4.3", stream=False))
    session, _listener = make_session(convo)
    response = session.wait_for(session.begin(exchange_for("from the panel")))
    assert session.totals.answers == 1
    assert session.totals.usage.total_tokens == response.usage.total_tokens
    assert convo.answers == 2 and convo.turns == 2


# -- failures of the client and of the listener ---------------------------------------------
def test_a_missing_key_is_the_exchanges_error(xai_env, monkeypatch):
    monkeypatch.delenv("XAI_API_KEY")
    listener = Listener()
    clients: list[GrokClient] = []

    def client() -> GrokClient:
        clients.append(GrokClient.from_env())
        return clients[-1]

    session = ChatSession(Conversation(), client, listener)
    listener.session_of = lambda: session
    exchange = session.begin(exchange_for("hello?"))
    with pytest.raises(MissingKeyError):
        session.wait_for(exchange)
    assert not session.busy and listener.names()[-2:] == ["settled", "busy_changed"]
    monkeypatch.setenv("XAI_API_KEY", xai_env.api_key)
    assert session.wait_for(session.begin(exchange_for("hello?"))).complete
    assert len(clients) == 2  # the client is asked for at each send, so a later key is used


def test_a_bug_in_the_listener_is_raised_to_a_blocking_caller(make_session, xai_env):
    session, listener = make_session()
    listener.fail_on_delta = RuntimeError("view bug")
    exchange = session.begin(exchange_for("q"))
    with pytest.raises(RuntimeError, match="view bug"):
        session.wait_for(exchange)
    assert not session.busy and exchange.done.is_set()
    assert listener.names()[-2:] == ["settled", "busy_changed"]
    listener.fail_on_delta = None
    assert session.wait_for(session.begin(exchange_for("q"))).complete  # the session still works


def test_a_bug_in_the_listener_of_a_background_send_reaches_threading_excepthook(
        make_session, xai_env, monkeypatch):
    session, listener = make_session()
    hooked: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: hooked.append(args.exc_value))
    listener.fail_on_delta = RuntimeError("view bug")
    exchange = session.begin(exchange_for("q", blocking=False))
    exchange.done.wait(10)
    deadline = time.monotonic() + 5
    while not hooked and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [str(e) for e in hooked] == ["view bug"] and not session.busy


def test_chat_imports_no_widgets_and_no_ipython():
    probe = ("import grok_magic.chat, sys, json\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert not loaded & {"ipywidgets", "IPython", "ipykernel", "traitlets"}

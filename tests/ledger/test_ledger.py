"""The ledger, end to end through the real client and the stand-in: what a row holds, replay,
export, budgets, looking back. (Faults and concurrency: test_ledger_faults.py.)"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from grok_magic.ask import Ask
from grok_magic.conversation import Conversation
from grok_magic.errors import AuthenticationError, MissingKeyError, StreamInterruptedError
from grok_magic.ledger.budget import BudgetExceeded, estimate_prompt_tokens, image_tokens
from grok_magic.ledger.canonical import Canonical, canonical_request
from grok_magic.ledger.recorder import Recorder, ReplayMissError, kernel_session
from grok_magic.ledger.store import SCHEMA_VERSION, Ledger, period_start
from grok_magic.settings import Settings, ledger_location
from grok_magic.settings import default_ledger_path as default_path
from grok_magic.xai.client import GrokClient
from grok_magic.xai.messages import user_message
from tests.support.xai_standin import FAKE_KEY, Close, Fault, Reply, as_chat


def png(size=(40, 30), color=(10, 200, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def image_turn(text: str, data: bytes) -> dict:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return user_message([text, {"type": "image_url", "image_url": {"url": url, "detail": "low"}}])


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    led = Ledger(tmp_path / "ledger.sqlite")
    yield led
    led.close()


def convo_with(ledger, **kw) -> Conversation:
    return Conversation(recorder=Recorder(ledger, **kw))


def chat_count(srv) -> int:
    return len(srv.answer_requests)


# -- where it lives ------------------------------------------------------------------------------
def test_location_order_env_setting_and_off(monkeypatch, tmp_path):
    home = tmp_path / "home"
    assert default_path() == home / ".local" / "share" / "grok_magic" / "ledger.sqlite"
    assert ledger_location() == default_path()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert ledger_location() == tmp_path / "xdg" / "grok_magic" / "ledger.sqlite"
    monkeypatch.setenv("GROK_LEDGER", str(tmp_path / "env.sqlite"))
    assert ledger_location() == tmp_path / "env.sqlite"
    assert ledger_location(str(tmp_path / "cfg.sqlite")) == tmp_path / "cfg.sqlite"  # %config wins
    assert ledger_location("off") is None
    monkeypatch.setenv("GROK_LEDGER", "OFF")
    assert ledger_location() is None
    assert ledger_location(str(tmp_path / "cfg.sqlite")) == tmp_path / "cfg.sqlite"


def test_script_conversation_records_to_the_default_ledger(client, xai_server, tmp_path):
    """A script's plain Conversation() records without being told (the default ledger)."""
    convo = Conversation()
    convo.send(client, Ask(user_message(["Hello from a script"]), "grok-4", stream=False))
    rows = Ledger(default_path()).entries()
    assert [(r.source, r.question, r.status) for r in rows] == [
        ("script", "Hello from a script", "ok")]


def test_sqlite_is_not_imported_until_used():
    import subprocess
    import sys

    # (IPython imports sqlite3 itself for its history, so the core is checked on its own.)
    code = ("import sys, grok_magic.conversation, grok_magic.ledger.recorder, grok_magic.chat\n"
            "assert 'sqlite3' not in sys.modules, 'sqlite3 imported at load'\n"
            "from grok_magic.ledger.store import Ledger\n"
            "Ledger('x.sqlite').count()\n"
            "assert 'sqlite3' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- what a row holds ----------------------------------------------------------------------------
def test_a_streamed_exchange_is_recorded_with_every_field(client, xai_server, ledger,
                                                          monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "lessons/week1.ipynb")
    xai_server.enqueue(Reply("Four.", reasoning="2+2", headers={"x-request-id": "req-123"}))
    convo = convo_with(ledger)
    image = png()
    ask = Ask(image_turn("What is 2+2? Look:", image), "grok-4", system="Be brief.",
              options={"temperature": 0.2}, source="cell", cell=7)
    response = convo.stream(client, ask).until_done()
    assert response.text == "Four."
    [row] = ledger.entries()
    assert (row.source, row.cell, row.notebook, row.session) == (
        "cell", 7, "lessons/week1.ipynb", kernel_session())
    assert (row.api, row.endpoint, row.model_asked) == ("responses", "/responses", "grok-4")
    assert row.model_served == response.model and row.model_served
    assert (row.answer, row.reasoning, row.finish_reason, row.status) == ("Four.", "2+2", "stop",
                                                                          "ok")
    assert row.request_id == "req-123"
    assert row.cost == pytest.approx(response.cost) and row.cost > 0
    usage = row.usage_fields
    assert usage["prompt_tokens"] == response.usage.prompt_tokens == row.prompt_tokens
    assert usage["reasoning_tokens"] == response.usage.reasoning_tokens == row.reasoning_tokens
    assert set(usage) >= {"cached_tokens", "image_tokens", "num_sources_used",
                          "cost_in_usd_ticks", "total_tokens"}
    assert 0 <= row.first_token_s <= row.total_s
    datetime.fromisoformat(row.time.replace("Z", "+00:00"))  # a real UTC timestamp
    assert row.time.endswith("Z")
    # The request: images as SHA-256 and size, stream flags gone, options and system kept.
    sent = json.loads(row.request)  # as sent to the Responses API; read here as chat
    assert "stream" not in sent and "stream_options" not in sent and "input" in sent
    request = as_chat(sent)
    assert request["temperature"] == 0.2 and request["messages"][0] == {
        "role": "system", "content": "Be brief."}
    part = request["messages"][1]["content"][1]["image_url"]
    assert part == {"url": {"sha256": hashlib.sha256(image).hexdigest(), "bytes": len(image),
                            "media_type": "image/png"}, "detail": "low"}
    assert "base64" not in row.request and "iVBOR" not in row.request  # no image bytes stored
    assert row.question == "What is 2+2? Look: [image]"
    assert row.request_hash == Canonical.of(xai_server.last_request.json).hash


def test_the_image_digest_is_of_the_decoded_bytes():
    data = png()
    body = {"model": "m", "messages": [image_turn("x", data)], "stream": True}
    digest = canonical_request(body)["messages"][0]["content"][1]["image_url"]["url"]
    assert digest == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                      "media_type": "image/png"}


def test_the_hash_ignores_stream_flags_and_sees_images_and_options():
    turn = image_turn("Describe", png())
    base = {"model": "grok-4", "messages": [turn]}

    def key(body):
        return Canonical.of(body).hash

    h = key(base)
    assert key({**base, "stream": True, "stream_options": {"include_usage": True}}) == h
    assert key({"model": "grok-4", "messages": [
        image_turn("Describe", png())]}) == h  # the same pixels encode to the same bytes
    assert key({"model": "grok-4", "messages": [
        image_turn("Describe", png(color=(0, 0, 0)))]}) != h
    assert key({**base, "temperature": 0.5}) != h
    assert key({**base, "model": "grok-3-mini"}) != h
    canonical = Canonical.of(base)  # the text is what the ledger stores, the hash is of it
    assert canonical.hash == hashlib.sha256(canonical.text.encode()).hexdigest()


@pytest.mark.parametrize("how", ["http-error", "stopped", "cut-off"])
def test_failed_stopped_and_cut_off_exchanges_are_recorded(client, xai_server, ledger, how):
    convo = convo_with(ledger)
    ask = Ask(user_message(["A question"]), "grok-4")
    if how == "http-error":
        xai_server.enqueue(Fault(400, {"code": "Client specified an invalid argument",
                                       "error": "Incorrect API key provided: xa***ef."}))
        with pytest.raises(AuthenticationError):
            convo.stream(client, ask)
        expected = "error"
    elif how == "stopped":
        xai_server.enqueue(Reply("word " * 200, chunk_chars=5, delay=0.005))
        stream = convo.stream(client, ask)
        pieces = 0
        for delta in stream:
            pieces += bool(delta.content)
            if pieces == 3:
                stream.close()
        expected = "stopped"
    else:
        xai_server.enqueue(Reply("one two three four five six", chunk_chars=4, cut_after=3))
        with pytest.raises(StreamInterruptedError):
            convo.stream(client, ask).until_done()
        expected = "incomplete"
    [row] = ledger.entries()
    assert row.status == expected and row.question == "A question"
    if how == "http-error":
        assert row.error.startswith("The API key was not accepted (HTTP 400): Incorrect API key")
        assert row.answer is None and row.cost is None
    elif how == "stopped":
        assert row.answer and len(row.answer) < 1000 and row.error is None
    else:
        assert "cut off" in row.error and row.answer
    if how != "http-error":  # billed: priced from the prompt estimate and the text received
        assert row.cost_exact == 0 and row.cost > 0
        assert row.completion_tokens == -(-len(row.answer) // 4)
        assert ledger.spent() == pytest.approx(row.cost)


# -- replay --------------------------------------------------------------------------------------
def test_auto_replays_an_identical_request_without_sending(client, xai_server, ledger):
    xai_server.enqueue(Reply("The mean is 3.", reasoning="adding up"))
    first = convo_with(ledger).send(client, Ask(user_message(["Mean of 1..5?"]), "grok-4",
                                                stream=False))
    sent = chat_count(xai_server)
    convo = convo_with(ledger, replay="auto")
    stream = convo.stream(client, Ask(user_message(["Mean of 1..5?"]), "grok-4"))  # streamed now
    pieces = [d.content for d in stream]
    response = stream.response
    assert chat_count(xai_server) == sent  # nothing reached the server
    assert "".join(pieces) == response.text == first.text == "The mean is 3."
    assert response.reasoning == "adding up"
    assert response.replayed and response.cost == 0.0
    assert response.original_cost == pytest.approx(first.cost) and first.cost > 0
    assert response.usage.prompt_tokens == first.usage.prompt_tokens
    assert convo.total_cost == 0.0 and convo.answers == 1
    assert convo.messages[-1] == {"role": "assistant", "content": "The mean is 3."}
    assert len(ledger.entries()) == 1  # a replay is not a new exchange with xAI
    # A different question is asked live.
    convo.send(client, Ask(user_message(["Median of 1..5?"]), "grok-4", stream=False))
    assert chat_count(xai_server) == sent + 1


class FakeTime:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("recorded", "pace", "total"), [
    (0.8, 1.5, 0.8),      # a quick answer replays in its own time
    (30.0, 1.5, 1.5),     # a long one within the pace
    (None, 1.5, 1.5),     # no recorded time: the pace
    (600.0, 60.0, 2.0),   # never over MAX_PACE_SECONDS, whatever the setting
    (5.0, 0, 0.0),        # 0: at once
])
def test_a_paced_replay_streams_over_its_recorded_time_bounded(recorded, pace, total):
    from grok_magic.ledger.replay import PACED_PIECES, ReplayStream
    from grok_magic.ledger.store import Entry

    answer = "A p-value is the probability of data at least this extreme. " * 50
    entry = Entry(time="", session="s", source="cell", request_hash="h", request="{}",
                  status="ok", answer=answer, reasoning="think first", total_s=recorded)
    fake = FakeTime()
    stream = ReplayStream(entry, sleep=fake.sleep, clock=lambda: fake.now).paced(pace)
    deltas = list(stream)
    assert "".join(d.content for d in deltas) == answer == stream.response.text
    assert "".join(d.reasoning for d in deltas) == "think first"
    assert fake.now == pytest.approx(total, abs=0.1)
    if total:
        assert len(deltas) >= PACED_PIECES  # several pieces, spread out
        assert max(fake.slept) <= total / 10
    else:
        assert fake.slept == []
    unpaced = ReplayStream(entry, sleep=fake.sleep, clock=lambda: fake.now)  # --each, batches
    slept = len(fake.slept)
    assert unpaced.until_done().text == answer and len(fake.slept) == slept


def test_replay_follows_a_whole_conversation_in_order(client, xai_server, ledger):
    home = convo_with(ledger)
    questions = ["What is a p-value?", "And a confidence interval?", "Give an example."]
    answers = [home.send(client, Ask(user_message([q]), "grok-4", stream=False)).text
               for q in questions]
    sent = chat_count(xai_server)
    klass = convo_with(ledger, replay="only")
    replayed = [klass.send(client, Ask(user_message([q]), "grok-4", stream=False)).text
                for q in questions]
    assert replayed == answers and chat_count(xai_server) == sent


def test_only_needs_no_key_and_a_miss_says_what_and_where(xai_env, ledger, monkeypatch):
    xai_server = xai_env
    xai_server.enqueue(Reply("Recorded at home."))
    home_client = GrokClient(Settings.load(max_retries=0))
    convo_with(ledger).send(home_client, Ask(user_message(["Lesson question"]), "grok-4"))
    home_client.close()
    monkeypatch.delenv("XAI_API_KEY")
    sent = len(xai_server.requests)
    keyless = GrokClient(Settings.load(max_retries=0))
    assert not keyless.settings.has_key
    klass = Conversation(recorder=Recorder(Ledger(ledger.path, readonly=True), replay="only"))
    assert klass.send(keyless, Ask(user_message(["Lesson question"]), "grok-4")).text == (
        "Recorded at home.")
    with pytest.raises(ReplayMissError) as caught:
        klass.send(keyless, Ask(user_message(["A student's own question about outliers"]),
                                "grok-4"))
    message = str(caught.value)
    assert "A student's own question about outliers" in message
    assert str(ledger.path) in message and "nothing was sent" in message
    assert "\n" not in message
    assert len(xai_server.requests) == sent  # no request at all, not even for prices
    # Without replay, the keyless client says the key is missing (and sends nothing).
    with pytest.raises(MissingKeyError):
        Conversation(recorder=Recorder(None)).send(keyless, Ask(user_message(["x"]), "grok-4"))
    assert len(xai_server.requests) == sent


def test_only_mode_never_writes_the_ledger_file(client, xai_server, tmp_path):
    path = tmp_path / "lesson.sqlite"
    convo_with(Ledger(path)).send(client, Ask(user_message(["Q"]), "grok-4"))
    Ledger(path).export(tmp_path / "shared.sqlite")
    shared = tmp_path / "shared.sqlite"
    before = shared.read_bytes()
    klass = Conversation(recorder=Recorder(Ledger(shared, readonly=True), replay="only"))
    assert klass.send(client, Ask(user_message(["Q"]), "grok-4")).replayed
    klass.recorder.ledger.close()
    assert shared.read_bytes() == before
    assert not (tmp_path / "shared.sqlite-wal").exists()


def test_the_latest_ok_answer_is_replayed_never_a_failed_one(client, xai_server, ledger):
    convo = convo_with(ledger)
    ask = Ask(user_message(["Q"]), "grok-4")
    xai_server.enqueue(Reply("partial answer here", chunk_chars=4, cut_after=2))
    with pytest.raises(StreamInterruptedError):
        convo.stream(client, ask).until_done()
    with pytest.raises(ReplayMissError):
        convo_with(ledger, replay="only").send(client, ask)
    xai_server.enqueue(Reply("first"))
    convo_with(ledger).send(client, ask)
    xai_server.enqueue(Reply("second"))
    convo_with(ledger).send(client, ask)
    assert convo_with(ledger, replay="only").send(client, ask).text == "second"


# -- export --------------------------------------------------------------------------------------
def test_export_by_session_and_by_notebook(client, xai_server, ledger, tmp_path, monkeypatch):
    convo_with(ledger).send(client, Ask(user_message(["mine"]), "grok-4"))
    # Rows from another kernel and another notebook, written as that kernel would.
    other = Recorder(ledger, notebook="other.ipynb")
    other.session = "another-kernel"
    Conversation(recorder=other).send(client, Ask(user_message(["theirs"]), "grok-4"))
    mine = Recorder(ledger, notebook="week1.ipynb")
    Conversation(recorder=mine).send(client, Ask(user_message(["mine too"]), "grok-4"))

    count = ledger.export(tmp_path / "session.sqlite", session=kernel_session())
    assert count == 2
    exported = Ledger(tmp_path / "session.sqlite", readonly=True)
    assert [e.question for e in exported.entries()] == ["mine", "mine too"]
    assert ledger.export(tmp_path / "nb.sqlite", notebook="other.ipynb") == 1
    conn = sqlite3.connect(tmp_path / "nb.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file to share
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    with pytest.raises(FileExistsError):
        ledger.export(tmp_path / "nb.sqlite", notebook="other.ipynb")
    assert ledger.export(tmp_path / "nb.sqlite", session=kernel_session(), replace=True) == 2
    with pytest.raises(ValueError):
        ledger.export(ledger.path)


# -- budgets -------------------------------------------------------------------------------------
def test_kernel_budget_stops_once_reached(client, xai_server, ledger):
    convo = convo_with(ledger)
    first = convo.send(client, Ask(user_message(["First question"]), "grok-4"))
    convo.recorder.budget = first.cost  # spent == budget: nothing more starts
    sent = chat_count(xai_server)
    with pytest.raises(BudgetExceeded) as caught:
        convo.send(client, Ask(user_message(["Second question please"]), "grok-4"))
    message = str(caught.value)
    assert "Second question please" in message and "this kernel has spent" in message
    assert "%config GrokMagics.budget" in message
    assert chat_count(xai_server) == sent
    convo.recorder.budget = first.cost * 100
    convo.send(client, Ask(user_message(["Second question please"]), "grok-4"))
    assert chat_count(xai_server) == sent + 1


def test_a_request_whose_prompt_alone_exceeds_what_is_left_is_refused(client, xai_server,
                                                                       ledger):
    recorder = Recorder(ledger, budget=0.001)
    convo = Conversation(recorder=recorder)
    long_text = "data " * 20_000  # ~25,000 tokens: about $0.03 at grok-4's input price
    sent = chat_count(xai_server)
    with pytest.raises(BudgetExceeded) as caught:
        convo.send(client, Ask(user_message([long_text]), "grok-4"))
    assert "for its prompt alone" in str(caught.value)
    assert chat_count(xai_server) == sent
    convo.send(client, Ask(user_message(["short"]), "grok-4"))  # fits: sent
    assert chat_count(xai_server) == sent + 1


def test_daily_budget_counts_every_kernel_through_the_ledger(client, xai_server, ledger):
    kernel_a = Recorder(ledger)
    a = Conversation(recorder=kernel_a).send(client, Ask(user_message(["from kernel A"]),
                                                         "grok-4"))
    # Yesterday's spending does not count today.
    old = dict(vars(ledger.entries()[0]))
    old.pop("id")
    old["time"] = (datetime.now(timezone.utc) - timedelta(days=2)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    old["cost"] = 100.0
    from grok_magic.ledger.store import Entry

    ledger.record(Entry(**old))
    kernel_b = Recorder(ledger, daily_budget=a.cost * 1.5)  # another kernel, nothing spent yet
    [limit] = kernel_b.limits()
    assert limit.spent == pytest.approx(a.cost)
    Conversation(recorder=kernel_b).send(client, Ask(user_message(["from kernel B"]), "grok-4"))
    with pytest.raises(BudgetExceeded) as caught:
        Conversation(recorder=kernel_b).send(client, Ask(user_message(["again"]), "grok-4"))
    assert "today (every kernel)" in str(caught.value)


def test_replays_cost_nothing_against_the_budget(client, xai_server, ledger):
    first = convo_with(ledger).send(client, Ask(user_message(["Q"]), "grok-4"))
    recorder = Recorder(ledger, replay="auto", budget=first.cost / 10)
    convo = Conversation(recorder=recorder)
    for _ in range(3):
        convo.reset()
        assert convo.send(client, Ask(user_message(["Q"]), "grok-4")).replayed
    assert recorder.spent == 0.0


def test_prompt_token_estimate_from_text_and_image_sizes():
    text_only = {"messages": [{"role": "user", "content": "x" * 400}]}
    assert estimate_prompt_tokens(text_only) == 100 + 3
    small, big = png((100, 100)), png((2000, 1500))
    with_images = {"messages": [image_turn("x" * 40, small), image_turn("", big)]}
    assert image_tokens("data:image/png;base64," + base64.b64encode(small).decode()) == 2 * 256
    assert image_tokens("data:image/png;base64," + base64.b64encode(big).decode()) == 7 * 256
    assert image_tokens("https://example.com/a.png") == 7 * 256  # size unknown: the most
    assert estimate_prompt_tokens(with_images) == 6 + 10 + 2 * 256 + 7 * 256


# -- looking back --------------------------------------------------------------------------------
def test_entries_filters_totals_and_dataframe(client, xai_server, ledger):
    convo = convo_with(ledger)
    convo.send(client, Ask(user_message(["a"]), "grok-4"))
    convo.send(client, Ask(user_message(["b"]), "grok-3-mini"))
    convo.send(client, Ask(user_message(["c"]), "grok-3-mini"))
    served = {e.question: e.model_served for e in ledger.entries()}
    assert [e.question for e in ledger.entries(model="grok-3-mini")] == ["b", "c"]
    assert [e.question for e in ledger.entries(model=served["a"])] == ["a"]
    assert [e.question for e in ledger.last(2)] == ["b", "c"]
    assert ledger.entries(since=datetime.now() + timedelta(minutes=1)) == []
    assert len(ledger.entries(since=period_start("today"))) == 3
    totals = {t.model: t for t in ledger.totals()}
    assert totals[served["b"]].answers == 2
    assert sum(t.cost for t in totals.values()) == pytest.approx(
        sum(e.cost for e in ledger.entries()))
    assert ledger.spent() == pytest.approx(sum(e.cost for e in ledger.entries()))
    frame = ledger.to_dataframe(model="grok-3-mini")
    assert list(frame["question"]) == ["b", "c"]
    assert str(frame["time"].dt.tz) == "UTC"
    assert frame["cost"].sum() == pytest.approx(2 * totals[served["b"]].cost / 2)


def test_a_schema_2_ledger_is_migrated_in_place_keeping_its_rows(tmp_path):
    from grok_magic.ledger.schema import MIGRATIONS

    path = tmp_path / "v2.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:2]:
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO exchanges (time, session, source, api, endpoint, request_hash, "
                 "request, status, cost) VALUES ('2026-11-01T10:00:00.000Z', 's', 'cell', "
                 "'chat', '/chat/completions', 'h', '{}', 'ok', 0.5)")
    conn.close()
    path.chmod(0o600)
    ledger = Ledger(path)
    [row] = ledger.entries()
    assert (row.cost, row.cost_exact, row.answer_key) == (0.5, 1, None)
    assert ledger.reserved() == 0 and ledger.spent() == 0.5
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    conn.close()


def test_ledger_is_wal_and_versioned(client, xai_server, ledger):
    convo_with(ledger).send(client, Ask(user_message(["x"]), "grok-4"))
    conn = sqlite3.connect(ledger.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_the_key_is_never_in_a_row(client, xai_server, ledger):
    from grok_magic.errors import KeyInRequestError

    xai_server.enqueue(Reply(f"your key is {FAKE_KEY}", reasoning=f"key {FAKE_KEY.upper()}"))
    with pytest.raises(KeyInRequestError):  # a key typed into the question is never sent
        convo_with(ledger).send(client, Ask(user_message([f"my key is {FAKE_KEY}"]), "grok-4"))
    assert xai_server.answer_requests == [] and ledger.entries() == []  # nothing sent, no row
    convo_with(ledger).send(client, Ask(user_message(["what is my key?"]), "grok-4"))
    for row in ledger.entries():
        dumped = json.dumps(vars(row))
        assert FAKE_KEY not in dumped and FAKE_KEY.upper() not in dumped
    assert ledger.entries()[-1].answer == "your key is ***"


def test_a_stopped_connection_before_any_answer_is_an_error_row(client, xai_server, ledger):
    # Two: a kept-alive connection that drops is taken for an idle close and replaced once.
    xai_server.enqueue(Close(), Close())
    with pytest.raises(Exception):  # noqa: B017 - the class is the transport's concern
        convo_with(ledger).send(client, Ask(user_message(["Q"]), "grok-4"))
    [row] = ledger.entries()
    assert row.status == "error" and row.error


def test_an_images_size_is_read_from_its_start_or_else_from_all_of_it():
    """The size is found from the first bytes of a data URL; a JPEG whose header lies further
    in (a 150 KB ICC profile before it) is still measured, from the whole image."""
    from PIL import Image

    for icc in (b"", b"\0" * 150_000):
        buffer = io.BytesIO()
        Image.new("RGB", (900, 500), (1, 2, 3)).save(buffer, "JPEG", icc_profile=icc or None)
        url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        assert image_tokens(url) == (3 * 2 + 1) * 256  # 900×500: 3×2 tiles of 448, plus one

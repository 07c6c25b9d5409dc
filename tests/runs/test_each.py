"""`--each` / `ask_each` end to end: real client, real HTTP, the stand-in with latency and 429s.
Alignment, retries, rate limits, budgets, credits, interrupts, resume, every kind of data."""

from __future__ import annotations

import _thread
import io
import re
import sys
import threading
import time

import pandas as pd
import pytest
from IPython.core.error import UsageError

from grok_magic import ask_each
from grok_magic.ask import Ask
from grok_magic.conversation import Conversation
from grok_magic.errors import InputError
from grok_magic.ledger.recorder import Recorder
from grok_magic.ledger.store import Ledger
from grok_magic.runs.each import Each, EachInterrupted
from grok_magic.runs.items import items_of
from grok_magic.xai.messages import user_message
from tests.support.inert_check import html_findings
from tests.support.magic_helpers import close_ledger, magic_shell, run
from tests.support.xai_standin import Fault, Reply, as_chat

ECHO = re.compile(r'to: "(.*?)"')
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def chat_bodies(srv) -> list[dict]:
    return [r.as_chat for r in srv.answer_requests]


def echoed(answer: str) -> str:
    """The prompt the stand-in says it answered (its default answer quotes it)."""
    return ECHO.search(answer).group(1)


@pytest.fixture
def recorder(tmp_path) -> Recorder:
    return Recorder(Ledger(tmp_path / "ledger.sqlite"))


def png_file(path, color) -> str:
    from PIL import Image

    Image.new("RGB", (32, 24), color).save(path, "PNG")
    return str(path)


# -- alignment and data kinds ------------------------------------------------------------------
def test_rows_belong_to_their_items_whatever_order_answers_come_in(client, recorder, xai_env):
    # Later items answer first: item i waits (30 - i) * 10 ms.
    xai_env.latency = lambda text: (30 - int(text.split("#")[1])) * 0.01
    items = [f"word {i}" for i in range(30)]
    progress = []
    frame = ask_each("Say back: {item} #{index}", items, client=client, recorder=recorder,
                     concurrency=8, progress=lambda p: progress.append(p.done))
    assert list(frame.index) == list(range(30))
    assert [echoed(a) for a in frame["answer"]] == [f"Say back: word {i} #{i}" for i in range(30)]
    assert frame["error"].isna().all() and (frame["cost"] > 0).all()
    assert (frame["prompt_tokens"] > 0).all() and (frame["completion_tokens"] > 0).all()
    assert set(frame.columns) >= {"answer", "model", "prompt_tokens", "completion_tokens",
                                  "reasoning_tokens", "cost", "seconds", "error"}
    # Finished out of order (the first item's answer came in late), yet aligned.
    assert progress[-1] == 30 and progress == sorted(progress)
    assert len(chat_bodies(xai_env)) == 30
    # Each its own one-turn exchange: no history, the system prompt when given.
    assert all(len(b["messages"]) == 1 for b in chat_bodies(xai_env))
    assert [e.source for e in recorder.ledger.entries()] == ["each"] * 30


def test_dataframe_rows_columns_and_shadowing(client, recorder, xai_env):
    frame = pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3, 19]}, index=["n", "s"])
    namespace = {"city": "SHADOWED", "unit": "celsius"}
    result = ask_each("{city} is {temp} {unit}. Row: {item}", frame, client=client,
                      recorder=recorder, namespace=namespace, system="Be terse.")
    assert list(result.index) == ["n", "s"]
    texts = [b["messages"][1]["content"] for b in chat_bodies(xai_env)]
    assert sorted(t.split(". Row:")[0] for t in texts) == ["Lima is 19 celsius",
                                                           "Oslo is 3 celsius"]
    assert all(b["messages"][0] == {"role": "system", "content": "Be terse."}
               for b in chat_bodies(xai_env))
    assert "temp" in texts[0].split("Row:")[1]  # {item} is the row, described


def test_dict_series_index_and_tuple(client, recorder, xai_env):
    by_key = ask_each("Define {item} ({index})", {"mu": "mean", "sigma": "std"}, client=client,
                      recorder=recorder)
    assert list(by_key.index) == ["mu", "sigma"]
    assert echoed(by_key.loc["sigma", "answer"]) == "Define std (sigma)"
    series = pd.Series(["a", "b"], index=pd.Index([10, 20], name="id"))
    result = ask_each("Letter {item} at {index}", series, client=client, recorder=recorder)
    assert result.index.name == "id" and echoed(result.loc[20, "answer"]) == "Letter b at 20"
    result = ask_each("X {item}", pd.Index(["p", "q"]), client=client, recorder=recorder)
    assert [echoed(a) for a in result["answer"]] == ["X p", "X q"]
    result = ask_each("T {item}", ("u", "v"), client=client, recorder=recorder)
    assert [echoed(a) for a in result["answer"]] == ["T u", "T v"]


def test_a_folder_of_images_one_image_each(client, recorder, xai_env, tmp_path):
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    paths = [png_file(tmp_path / f"p{i}.png", c) for i, c in enumerate(colors)]
    result = ask_each("Which colour is {item}?", str(tmp_path / "*.png"), client=client,
                      recorder=recorder)
    assert list(result.index) == paths
    assert all("I received 1 image(s)" in a for a in result["answer"])
    for body in chat_bodies(xai_env):
        parts = body["messages"][0]["content"]
        assert [p["type"] for p in parts] == ["text", "image_url", "text"]
        assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    # Image bytes in a list are images too; paths in a list are text (no image_cols).
    data = [open(p, "rb").read() for p in paths[:2]]
    assert all("1 image(s)" in a for a in ask_each("{item}", data, client=client,
                                                    recorder=recorder)["answer"])
    assert not any("1 image(s)" in a for a in ask_each("{item}", paths[:2], client=client,
                                                       recorder=recorder)["answer"])


def test_bad_data_is_one_clear_message(tmp_path):
    with pytest.raises(InputError, match="matches no files"):
        items_of(str(tmp_path / "*.jpg"))
    with pytest.raises(InputError, match="int, which --each cannot go over"):
        items_of(42)


def test_json_and_schema_answers_become_columns(client, recorder, xai_env):
    schema = {"type": "object", "properties": {"label": {"type": "string"},
                                               "score": {"type": "integer"}},
              "required": ["label", "score"]}
    result = ask_each("Rate {item}", ["x", "y"], client=client, recorder=recorder,
                      schema=schema)
    assert list(result.columns[:2]) == ["label", "score"]
    assert result["label"].map(type).eq(str).all() and result["error"].isna().all()
    assert all(b["response_format"]["type"] == "json_schema" for b in chat_bodies(xai_env))


def test_without_pandas_the_result_is_a_list_of_dicts(client, recorder, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    result = ask_each("Q {item}", ["a", "b"], client=client, recorder=recorder)
    assert [r["index"] for r in result] == [0, 1]
    assert echoed(result[1]["answer"]) == "Q b" and result[1]["error"] is None


# -- rate limits, retries, failures --------------------------------------------------------------
def test_429s_are_retried_after_retry_after_and_lower_the_concurrency(client, recorder,
                                                                      xai_env):
    xai_env.throttle_every = 5
    xai_env.throttle_retry_after = 0.2
    each = Each("Item {item}", [str(i) for i in range(30)], client=client, recorder=recorder,
                concurrency=8, max_retries=3)
    seen_limits = []
    import grok_magic.runs.runner as runner_module

    real = runner_module.EachRun._settle

    def spy(self, *args):
        result = real(self, *args)
        seen_limits.append(self.limit)
        return result

    runner_module.EachRun._settle = spy
    try:
        frame = each.run()
    finally:
        runner_module.EachRun._settle = real
    assert frame["error"].isna().all()  # no row lost
    assert [echoed(a) for a in frame["answer"]] == [f"Item {i}" for i in range(30)]
    assert min(seen_limits) < 8  # halved on a 429
    assert each.summary.ok == 30
    assert len(chat_bodies(xai_env)) > 30  # the throttled ones were sent again


def test_an_item_that_keeps_failing_is_recorded_and_the_rest_go_on(client, recorder, xai_env):
    xai_env.enqueue(Fault(500))
    frame = ask_each("Q {item}", ["a", "b", "c", "d"], client=client, recorder=recorder,
                     concurrency=1, max_retries=0)
    assert frame.loc[0, "error"].startswith("xAI server error (HTTP 500)")
    assert pd.isna(frame.loc[0, "answer"])
    assert frame["error"][1:].isna().all()
    assert [echoed(a) for a in frame["answer"][1:]] == ["Q b", "Q c", "Q d"]


def test_a_5xx_is_retried_and_the_item_answered(client, recorder, xai_env):
    xai_env.enqueue(Fault(503))
    frame = ask_each("Q {item}", ["a", "b"], client=client, recorder=recorder,
                     concurrency=1, max_retries=1)
    assert frame["error"].isna().all()
    assert [echoed(a) for a in frame["answer"]] == ["Q a", "Q b"]
    assert len(chat_bodies(xai_env)) == 3


def test_out_of_credits_stops_the_run_at_once(client, recorder, xai_env):
    xai_env.latency = 0.05
    xai_env.enqueue(Reply("fine"), Fault.credits(429))
    frame = ask_each("Q {item}", [str(i) for i in range(10)], client=client, recorder=recorder,
                     concurrency=1)
    assert frame.loc[0, "answer"] == "fine" and pd.isna(frame.loc[0, "error"])
    assert frame.loc[1, "error"].startswith("Out of credits (HTTP 429)")
    assert frame["error"][2:].str.startswith("not sent: the run stopped").all()
    assert len(chat_bodies(xai_env)) == 2


def test_a_budget_stops_the_run_before_the_request_that_would_cross_it(client, tmp_path,
                                                                       xai_env):
    probe = ask_each("Q {item}", ["0"], client=client, recorder=Recorder(None))
    one = probe.loc[0, "cost"]
    recorder = Recorder(Ledger(tmp_path / "l.sqlite"), budget=one * 2.5)
    sent = len(chat_bodies(xai_env))
    each = Each("Q {item}", [str(i) for i in range(8)], client=client, recorder=recorder,
                concurrency=1)
    frame = each.run()
    assert frame["error"][:3].isna().all()
    assert frame.loc[3, "error"].startswith("not sent: Budget reached")
    assert frame["error"][4:].str.startswith("not sent: the run stopped at the budget").all()
    assert len(chat_bodies(xai_env)) - sent == 3
    # The refused request is not a failure: the summary says 5 were not sent.
    assert each.summary.line().startswith("3 of 8 answered · 5 not sent")
    assert each.summary.failed == 0


# -- interrupt and resume ------------------------------------------------------------------------
@pytest.mark.usefixtures("default_sigint")
def test_interrupt_drops_in_flight_keeps_finished_rows_and_resumes(client, recorder, xai_env):
    import pandas  # noqa: F401 - its first import (~1 s) is not part of what the timer measures

    ask_each("Q {item}", ["warm"], client=client, recorder=recorder)  # connection and prices
    xai_env.latency = 0.3
    items = [str(i) for i in range(40)]
    timer = threading.Timer(0.75, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    with pytest.raises(EachInterrupted) as caught:
        ask_each("Q {item}", items, client=client, recorder=recorder, concurrency=4)
    returned_after = time.monotonic() - started
    frame = caught.value.result
    done = frame["error"].isna()
    assert 4 <= done.sum() < 40
    assert (frame.loc[~done, "error"] == "cancelled").all()
    assert [echoed(a) for a in frame.loc[done, "answer"]] == [f"Q {i}" for i in
                                                               frame.index[done]]
    assert "were answered" in str(caught.value)
    # In-flight requests were dropped: the call returned within 1 s of the interrupt.
    assert returned_after - timer.interval < 1.0
    sent_before = len(chat_bodies(xai_env))
    xai_env.latency = 0.0
    again = ask_each("Q {item}", items, client=client, recorder=recorder, concurrency=4)
    assert again["error"].isna().all()
    assert again.loc[done[done].index, "replayed"].all()
    sent = chat_bodies(xai_env)[sent_before:]
    resent = sorted(b["messages"][0]["content"] for b in sent)
    assert resent == sorted(f"Q {i}" for i in frame.index[~done])  # only the rest was sent


def test_without_a_ledger_a_rerun_resumes_from_this_session(client, xai_env):
    session = Recorder(None)  # the ledger is off: the recorder remembers this session's answers
    first = ask_each("Q {item}", ["a", "b"], client=client, recorder=session)
    sent = len(chat_bodies(xai_env))
    again = ask_each("Q {item}", ["a", "b", "c"], client=client, recorder=session)
    assert len(chat_bodies(xai_env)) == sent + 1  # only "c"
    assert list(again["replayed"]) == [True, True, False]
    assert list(again["answer"][:2]) == list(first["answer"])
    assert list(again["cost"][:2]) == [0.0, 0.0]
    fresh = ask_each("Q {item}", ["a"], client=client, recorder=session, resume=False)
    assert not fresh.loc[0, "replayed"] and len(chat_bodies(xai_env)) == sent + 2
    # Another session (recorder) remembers nothing; plain questions are never kept.
    ask_each("Q {item}", ["a"], client=client, recorder=Recorder(None))
    assert len(chat_bodies(xai_env)) == sent + 3
    Conversation(recorder=session).send(client, Ask(user_message(["plain"]), "grok-4"))
    assert len(session.memory) == 3


# -- the magic ---------------------------------------------------------------------------------
@pytest.fixture
def ip(xai_env, tmp_path, monkeypatch):
    monkeypatch.setenv("GROK_LEDGER", str(tmp_path / "ledger.sqlite"))
    shell_ = magic_shell()
    yield shell_
    close_ledger(shell_)


def test_magic_each_stores_out_and_shows_a_safe_summary(ip, xai_env):
    xai_env.enqueue(*[Reply(f"<img src=x onerror=alert({i})> label {i}") for i in range(3)])
    ip.user_ns["reviews"] = ["good", "bad", "ok"]
    out = run(ip, "%%grok --each reviews -o labels --concurrency 1\nSentiment of {item}")
    assert out.error is None
    labels = ip.user_ns["labels"]
    assert labels is ip.user_ns["_grok_each"]
    assert list(labels["answer"]) == [f"<img src=x onerror=alert({i})> label {i}"
                                      for i in range(3)]
    html = out.html()
    assert [f for o in out.outputs for f in html_findings(o["text/html"])] == []
    assert "<img" not in html
    assert "3 of 3 answered" in out.shown() and "label 1" in out.shown()
    assert "3 of 3 answered" in out.plain()
    (bar,) = [o for o in out.outputs if "grok-progress" in o["text/html"]]  # its final state
    assert "grok --each" in bar["text/plain"] and "3/3" in bar["text/plain"]
    assert "value='3' max='3'" in bar["text/html"] and WIDGET_MIME not in bar


def test_a_dry_run_of_short_answers_gives_a_tight_range(ip, xai_env):
    """A template asking for a label: answers of 1 to 32 tokens, so the range spans a few times,
    not 57 (a 1,000-token answer assumed); a long-answer template keeps the wide range."""
    ip.user_ns["reviews"] = ["Great battery", "Screen cracked", "Does the job"]
    out = run(ip, "%%grok --each reviews --dry-run -o plan\n"
                  "Label this review as positive, negative or neutral: {item}")
    assert out.error is None and chat_bodies(xai_env) == []
    plan = ip.user_ns["plan"]
    assert plan.answer_tokens == 32 and plan.high / plan.low < 8
    assert "answers of 1 to 32 tokens each (the template asks for a short answer; " \
           "--max-tokens bounds them)" in " ".join(out.plain().split())
    run(ip, "%%grok --each reviews --dry-run -o wide\nWrite a reply to this review: {item}")
    wide = ip.user_ns["wide"]
    assert wide.answer_tokens == 1_000 and wide.high / wide.low > 20


def test_magic_each_dry_run_sends_nothing_and_estimates(ip, xai_env):
    ip.user_ns["items"] = list(range(12))
    out = run(ip, "%%grok --each items --dry-run --max-tokens 100\nSquare {item}")
    assert out.error is None and chat_bodies(xai_env) == []
    plain = out.plain()
    assert "12 requests like this one" in plain and "1 to 100 tokens" in plain
    assert re.search(r"about \$[\d.]+–\$[\d.]+", plain)
    assert '"text": "Square 0"' in plain  # the first request, as the Responses API takes it
    out = run(ip, "%%grok --each items --dry-run -o plan\nSquare {item}")
    plan = ip.user_ns["plan"]
    assert plan.count == 12 and as_chat(plan.first_body)["messages"][0]["content"] == "Square 0"
    assert chat_bodies(xai_env) == []


def test_magic_each_over_a_glob_string(ip, xai_env, tmp_path):
    for i in range(2):
        png_file(tmp_path / f"img{i}.png", (i * 100, 0, 0))
    out = run(ip, f'%%grok --each "{tmp_path}/*.png" -q\nDescribe {{item}}')
    assert out.error is None
    assert list(ip.user_ns["_grok_each"].index) == sorted(str(p) for p in tmp_path.glob("*.png"))
    # The pattern was typed by the user: every file it matches is sent as an image.
    assert [kinds(r.json) for r in xai_env.answer_requests] == [["text", "image_url"]] * 2


def test_the_result_shows_each_answer_beside_its_input(ip, xai_env, tmp_path):
    """The rows shown under a run: the item (a file by its name, not its temp path, a DataFrame
    row by its columns), then the answer, long enough to judge."""
    pd = pytest.importorskip("pandas")
    for i in range(2):
        png_file(tmp_path / f"photo{i}.png", (i * 100, 0, 0))
    out = run(ip, f'%%grok --each "{tmp_path}/*.png"\nDescribe {{item}}')
    assert out.error is None
    shown = out.shown()
    assert "index input answer" in " ".join(shown.split())
    assert "photo0.png photo0.png" in " ".join(shown.split()) and str(tmp_path) not in shown
    # Thumbnails the kernel made (PNG bytes in widgets, no file path or URL for the page).
    import ipywidgets as widgets

    [strip] = [o for o in out.outputs if o.get("text/plain") == "(thumbnails of the first 2 images)"]
    row = widgets.Widget.widgets[strip["application/vnd.jupyter.widget-view+json"]["model_id"]]
    images = [box.children[0] for box in row.children]
    assert [bytes(i.value[:8]) for i in images] == [b"\x89PNG\r\n\x1a\n"] * 2
    assert [box.children[1].value for box in row.children] == [
        "<small>photo0.png</small>", "<small>photo1.png</small>"]
    assert str(tmp_path) not in str(strip)
    long_answer = "A careful answer. " * 15  # 270 characters: shown whole
    xai_env.enqueue(Reply(content=long_answer), Reply(content="Short."))
    ip.user_ns["reviews"] = pd.DataFrame({"review": ["Great battery", "Screen cracked"],
                                          "stars": [5, 1]}, index=["r1", "r2"])
    out = run(ip, "%%grok --each reviews --concurrency 1\nReply to: {review}")
    assert out.error is None
    text = " ".join(out.shown().split())
    assert f"r1 review: Great battery · stars: 5 {long_answer.strip()}" in text
    assert "r2 review: Screen cracked · stars: 1 Short." in text
    # Text columns left (not JupyterLab's right), the cost right.
    heads = re.findall(r'<th style="text-align:(\w+)">(\w+)</th>', out.html())
    assert {"index", "input", "answer", "cost"} <= {name for _, name in heads}
    assert all(align == ("right" if name == "cost" else "left") for align, name in heads)


def test_magic_each_bad_variable_and_options(ip):
    out = run(ip, "%%grok --each nothing_here\nQ {item}")
    assert out.error is not None and "there is no variable 'nothing_here'" in str(out.error)
    ip.user_ns["xs"] = [1]
    out = run(ip, "%%grok --each xs --to-cell\nQ {item}")
    assert out.error is not None and "--to-cell" in str(out.error)


def test_magic_each_needs_a_key_once(ip, xai_env, monkeypatch):
    monkeypatch.delenv("XAI_API_KEY")
    ip.user_ns["xs"] = [1, 2, 3]
    out = run(ip, "%%grok --each xs\nQ {item}")
    assert out.error is not None and "No xAI API key" in str(out.error)
    assert chat_bodies(xai_env) == []
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.usefixtures("default_sigint")
def test_magic_each_interrupt_keeps_rows_in_out(ip, xai_env):
    xai_env.latency = 0.3
    ip.user_ns["xs"] = list(range(30))
    timer = threading.Timer(0.7, _thread.interrupt_main)
    timer.start()
    out = run(ip, "%%grok --each xs -o got --concurrency 3\nQ {item}")
    assert isinstance(out.error, EachInterrupted)
    got = ip.user_ns["got"]
    assert 3 <= got["error"].isna().sum() < 30
    assert "you stopped the run" in out.shown() and "run it again" in out.shown()
    assert "<p class='grok-note grok-stopped" in out.html()  # a neutral note, not an error
    assert (got["error"].dropna() == "cancelled").all()


def test_terminal_progress_is_plain_text(client, recorder):
    from grok_magic.notebook.progress import ProgressBar
    from grok_magic.runs.runner import Progress

    stream = io.StringIO()
    bar = ProgressBar(2, terminal=True, file=stream)
    bar.update(Progress(total=2, concurrency=1, done=2, tokens=10, cost=0.001))
    bar.close()
    assert "2/2" in stream.getvalue() and "10 tokens" in stream.getvalue()
    assert "429" not in stream.getvalue()
    stream = io.StringIO()
    bar = ProgressBar(2, terminal=True, file=stream)
    bar.update(Progress(total=2, concurrency=1, done=1, rate_limited=3, tokens=10))
    bar.close()
    assert "1/2" in stream.getvalue() and "3 × 429 (slowed down)" in stream.getvalue()


def test_options_apply_to_every_item(client, recorder, xai_env, tmp_path):
    """-i images, the system prompt, temperature, max tokens and reasoning effort go with each
    item's request."""
    reference = png_file(tmp_path / "reference.png", (9, 9, 9))
    ask_each("Compare {item} with the reference", ["apple", "pear"], client=client,
             recorder=recorder, images=[reference], system="Be brief.", temperature=0.3,
             max_tokens=40, reasoning_effort="low", model="grok-3-mini")
    bodies = chat_bodies(xai_env)
    assert len(bodies) == 2
    for body in bodies:
        assert body["model"] == "grok-3-mini" and body["temperature"] == 0.3
        assert body["max_completion_tokens"] == 40 and body["reasoning_effort"] == "low"
        system, user = body["messages"]
        assert system == {"role": "system", "content": "Be brief."}
        assert [p["type"] for p in user["content"]] == ["text", "image_url"]
    assert sorted(b["messages"][1]["content"][0]["text"] for b in bodies) == [
        "Compare apple with the reference", "Compare pear with the reference"]


def test_session_usage_counts_each_runs(ip, xai_env):
    ip.user_ns["xs"] = ["a", "b", "c"]
    run(ip, "%%grok --each xs -q\nQ {item}")
    run(ip, "%%grok\nOne more question")
    table = ip.user_ns["_grok_each"]
    plain = run(ip, "%grok usage").plain()
    assert "answers: 4" in plain
    total = table["cost"].sum() + ip.user_ns["_grok"].cost
    assert f"cost: ${total:.6f}" in plain or f"cost: ${total:.4f}" in plain


# -- which values are files: only what the user marks (--image-col, a typed glob) ----------------
def user_content(body: dict):
    """The user turn's content: a str (text only) or a list of parts."""
    return as_chat(body)["messages"][-1]["content"]


def kinds(body: dict) -> list[str]:
    """The types of the user turn's parts (["text"] for plain text)."""
    content = user_content(body)
    return ["text"] if isinstance(content, str) else [p["type"] for p in content]


def sent_texts(srv) -> list[str]:
    return sorted(user_content(r.json) for r in srv.answer_requests)


def assert_one_paragraph(out, *phrases) -> None:
    """An InputError shown as one paragraph (no traceback) holding every phrase."""
    assert isinstance(out.error, InputError), (type(out.error), out.everything())
    shown = out.told()
    assert "Traceback" not in shown and "File " not in shown
    for phrase in phrases:
        assert phrase in shown, shown


def test_a_path_in_a_dataframe_column_is_sent_as_text(ip, xai_env, tmp_path):
    """A CSV's `note` column naming an existing PNG does not upload it: {note} is its text."""
    scan = png_file(tmp_path / "scan.png", (1, 2, 3))
    ip.user_ns["df"] = pd.DataFrame({"note": [scan, "plain words"]})
    out = run(ip, "%%grok --each df -q\nDescribe {note}")
    assert out.error is None and ip.user_ns["_grok_each"]["error"].isna().all()
    assert [kinds(r.json) for r in xai_env.answer_requests] == [["text"]] * 2  # no image part
    assert sent_texts(xai_env) == sorted([f"Describe {scan}", "Describe plain words"])


def test_a_second_each_over_answers_that_are_paths_sends_no_image(ip, xai_env, tmp_path):
    """A model answer naming a file is text in the next run, too."""
    paths = [png_file(tmp_path / f"answer{i}.png", (i, i, i)) for i in range(2)]
    xai_env.enqueue(*[Reply(content=p) for p in paths])
    ip.user_ns["xs"] = ["a", "b"]
    assert run(ip, "%%grok --each xs -o first -q --concurrency 1\nName a file for {item}").error is None
    assert sorted(ip.user_ns["first"]["answer"]) == sorted(paths)
    before = len(xai_env.answer_requests)
    out = run(ip, "%%grok --each first -q\nDescribe {answer}")
    assert out.error is None
    second = xai_env.answer_requests[before:]
    assert [kinds(r.json) for r in second] == [["text"]] * 2  # no image part
    assert sorted(user_content(r.json) for r in second) == sorted(f"Describe {p}" for p in paths)
    out = run(ip, "%%grok --each first -q\nAgain: {item}")  # the row, described: text as well
    assert out.error is None and all(kinds(r.json) == ["text"]
                                     for r in xai_env.answer_requests[before + 2:])


def test_image_col_sends_the_files_under_the_notebook_folder(ip, xai_env, tmp_path):
    (tmp_path / "shots").mkdir()
    png_file(tmp_path / "a.png", (255, 0, 0))
    png_file(tmp_path / "shots" / "b.png", (0, 255, 0))
    absolute = png_file(tmp_path / "shots" / "c.png", (0, 0, 255))
    ip.user_ns["df"] = pd.DataFrame({"photo": ["a.png", "shots/b.png", absolute],
                                     "note": ["one", "two", "three"]})
    out = run(ip, "%%grok --each df --image-col photo -q\nWhat is in {photo}? ({note})")
    assert out.error is None and ip.user_ns["_grok_each"]["error"].isna().all()
    bodies = [r.as_chat for r in xai_env.answer_requests]
    assert [kinds(b) for b in bodies] == [["text", "image_url", "text"]] * 3
    assert all(user_content(b)[1]["image_url"]["url"].startswith("data:image/png;base64,")
               for b in bodies)
    # --image-col item: the items of a list themselves.
    ip.user_ns["files"] = ["a.png", "shots/b.png"]
    out = run(ip, "%%grok --each files --image-col item -q\nDescribe {item}")
    assert out.error is None
    assert [kinds(r.json) for r in xai_env.answer_requests[3:]] == [["text", "image_url"]] * 2
    # Not quiet: thumbnails of the images the --image-col column sent, one per row.
    out = run(ip, "%%grok --each df --image-col photo\nWhat is in {photo}? ({note})")
    assert any(o.get("text/plain") == "(thumbnails of the first 3 images)" for o in out.outputs)


@pytest.fixture
def notebook_folder(tmp_path, monkeypatch):
    """The notebook's folder (the cwd) is tmp_path/nb, with photo.png in it; outside it,
    tmp_path/secret.png, and nb/link.png, a symbolic link to the secret."""
    folder = tmp_path / "nb"
    folder.mkdir()
    png_file(folder / "photo.png", (9, 9, 9))
    secret = png_file(tmp_path / "secret.png", (6, 6, 6))
    (folder / "link.png").symlink_to(secret)
    (folder / "notes.txt").write_text("not an image")
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize(("value", "phrases"), [
    ("{secret}", ["row 1 names {secret}, which is outside {nb} (the folder of the notebook).",
                  "Only files under that folder, or under --root, are read."]),
    ("../secret.png", ["row 1 names ../secret.png, which has a '..' part"]),
    ("nb/../photo.png", ["row 1 names nb/../photo.png, which has a '..' part"]),
    ("link.png", ["row 1 names link.png, a symbolic link that leads to {secret}, outside {nb}"]),
    ("missing.png", ["row 1 names missing.png, which does not exist"]),
    ("notes.txt", ["row 1 names notes.txt, which is not an image file"]),
    ("~/photo.png", ["row 1 names ~/photo.png, which does not exist", "~ is not expanded"]),
])
def test_image_col_refuses_files_outside_the_folder_and_sends_nothing(
        ip, xai_env, notebook_folder, value, phrases):
    secret, nb = str(notebook_folder.parent / "secret.png"), str(notebook_folder)
    (notebook_folder.parent / "home" / "photo.png").write_bytes(b"")  # ~/photo.png exists
    value = value.format(secret=secret)
    ip.user_ns["df"] = pd.DataFrame({"photo": ["photo.png", value]})
    out = run(ip, "%%grok --each df --image-col photo -q\nDescribe {photo}")
    assert_one_paragraph(out, "--image-col photo:", "Nothing was sent",
                         *(p.format(secret=secret, nb=nb) for p in phrases))
    assert xai_env.answer_requests == []
    # The dry run and --batch-api check the same, before anything is built or sent.
    for option in ("--dry-run", "--batch-api"):
        out = run(ip, f"%%grok --each df --image-col photo {option}\nDescribe {{photo}}")
        assert isinstance(out.error, InputError) and "--image-col photo:" in str(out.error)
    assert xai_env.requests == []
    # Without --image-col, the same values are text: nothing is read, inside the folder or out.
    assert run(ip, "%%grok --each df -q\nDescribe {photo}").error is None
    assert [kinds(r.json) for r in xai_env.answer_requests] == [["text"]] * 2
    assert f"Describe {value}" in sent_texts(xai_env)


def test_every_row_is_checked_first_and_the_message_counts_the_others(ip, xai_env,
                                                                      notebook_folder):
    ip.user_ns["df"] = pd.DataFrame({"photo": ["photo.png", "/etc/a.png", "x.png", None]},
                                    index=["p", "q", "r", "s"])
    out = run(ip, "%%grok --each df --image-col photo -q\nDescribe {photo}")
    assert_one_paragraph(out, "row 'q' names /etc/a.png, which is outside",
                         "2 other values of --image-col have a problem too")
    assert xai_env.answer_requests == []


def test_image_col_and_root_mistakes_are_usage_messages(ip, xai_env, notebook_folder):
    ip.user_ns["df"] = pd.DataFrame({"photo": ["photo.png"]})
    ip.user_ns["xs"] = ["photo.png"]
    cases = {
        "%%grok --image-col photo\nHi": (UsageError, "add --each VAR"),
        "%%grok --each df --image-col pic\nHi": (InputError, "df has no column 'pic'"),
        "%%grok --each df --image-col item\nHi": (InputError, "{item} is the whole row"),
        "%%grok --each xs --image-col photo\nHi": (InputError, "use --image-col item"),
        "%%grok --each df --root /\nHi": (InputError, "no --image-col is given"),
        "%%grok --each df --image-col photo --root nowhere\nHi": (InputError, "no such folder"),
    }
    for cell, (kind, phrase) in cases.items():
        out = run(ip, cell)
        assert isinstance(out.error, kind), (cell, out.error)
        assert phrase.lower() in str(out.error).lower(), (cell, str(out.error))
        assert "Traceback" not in out.stdout + out.stderr
    assert xai_env.requests == []


def test_root_allows_the_files_under_that_folder(ip, xai_env, notebook_folder, tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    absolute = png_file(data / "x.png", (1, 1, 1))
    png_file(data / "sub" / "y.png", (2, 2, 2))
    ip.user_ns["df"] = pd.DataFrame({"photo": [absolute, "sub/y.png"]})
    out = run(ip, "%%grok --each df --image-col photo -q\nDescribe {photo}")
    assert_one_paragraph(out, f"names {absolute}, which is outside {notebook_folder}")
    assert xai_env.answer_requests == []
    out = run(ip, f'%%grok --each df --image-col photo --root "{data}" -q\nDescribe {{photo}}')
    assert out.error is None and ip.user_ns["_grok_each"]["error"].isna().all()
    assert [kinds(r.json) for r in xai_env.answer_requests] == [["text", "image_url"]] * 2
    # Under --root, the notebook's own folder is not allowed any more.
    ip.user_ns["df"] = pd.DataFrame({"photo": [str(notebook_folder / "photo.png")]})
    out = run(ip, f'%%grok --each df --image-col photo --root "{data}" -q\nDescribe {{photo}}')
    assert_one_paragraph(out, f"which is outside {data} (--root)",
                         "Only files under --root are read")


def test_ask_each_reads_files_only_for_image_cols(client, recorder, xai_env, notebook_folder,
                                                  tmp_path):
    frame = pd.DataFrame({"photo": ["photo.png", str(notebook_folder / "photo.png")]})
    ask_each("Describe {photo}", frame, client=client, recorder=recorder)
    assert [kinds(b) for b in chat_bodies(xai_env)] == [["text"]] * 2
    assert sorted(user_content(b) for b in chat_bodies(xai_env)) == sorted(
        f"Describe {p}" for p in frame["photo"])
    result = ask_each("Describe {photo}", frame, client=client, recorder=recorder,
                      image_cols=["photo"])
    assert result["error"].isna().all()
    assert [kinds(b) for b in chat_bodies(xai_env)[2:]] == [["text", "image_url"]] * 2
    # A Series of names with image_cols=["item"]; root= elsewhere; Each refuses up front.
    png_file(tmp_path / "z.png", (3, 3, 3))
    series = pd.Series(["z.png"], index=["only"])
    result = ask_each("{item}", series, client=client, recorder=recorder, image_cols=["item"],
                      root=tmp_path)
    assert result.loc["only", "error"] is None or pd.isna(result.loc["only", "error"])
    assert kinds(chat_bodies(xai_env)[-1]) == ["image_url"]
    sent = len(chat_bodies(xai_env))
    with pytest.raises(InputError, match=r"--image-col item: row 'only' names z.png, which does "
                                         r"not exist"):
        Each("{item}", series, client=client, recorder=recorder, image_cols="item")
    assert len(chat_bodies(xai_env)) == sent


def test_a_file_swapped_after_the_check_fails_its_own_row(client, recorder, xai_env,
                                                          notebook_folder):
    """Rows are checked again when their request is built: a file replaced by a link outside
    the folder after the run started is not read."""
    late = notebook_folder / "late.png"
    png_file(late, (4, 4, 4))
    each = Each("{photo}", pd.DataFrame({"photo": ["photo.png", "late.png"]}), client=client,
                recorder=recorder, image_cols=["photo"], concurrency=1)
    late.unlink()
    late.symlink_to(notebook_folder.parent / "secret.png")
    frame = each.run()
    assert pd.isna(frame.loc[0, "error"])
    assert "a symbolic link that leads to" in frame.loc[1, "error"]
    assert len(chat_bodies(xai_env)) == 1


def test_after_a_budget_stop_the_bar_and_the_summary_agree(ip, client, xai_env):
    """The request the budget refused was not sent: the bar counts it no more than the summary,
    and the summary names OUT, where the table is."""
    one = ask_each("Q {item}", ["0"], client=client, recorder=Recorder(None)).loc[0, "cost"]
    run(ip, f"%config GrokMagics.budget = {float(one) * 2.5!r}")
    ip.user_ns["xs"] = [f"item {i}" for i in range(8)]
    out = run(ip, "%%grok --each xs -o labels --concurrency 1\nQ {item}")
    assert out.error is None
    (bar,) = [o for o in out.outputs if "grok-progress" in o["text/html"]]
    assert "3/8" in bar["text/plain"] and "value='3' max='8'" in bar["text/html"]
    assert "failed" not in bar["text/plain"]
    assert "3 of 8 answered · 5 not sent" in out.plain()
    assert "First 5 rows (all in labels and _grok_each)" in out.shown()
    run(ip, "%config GrokMagics.budget = None")
    assert "(all in _grok_each)" in run(ip, "%%grok --each xs --concurrency 1\nQ {item}").shown()

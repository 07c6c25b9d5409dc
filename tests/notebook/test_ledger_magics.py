"""The ledger as a notebook user meets it: %%grok recording, replay in a cell, %grok log /
usage / export, budgets in cells and in the chat panel. Real shell, real client, the stand-in."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from datetime import datetime

import pytest

from grok_magic.ledger.budget import BudgetExceeded
from grok_magic.ledger.recorder import ReplayMissError
from grok_magic.ledger.store import Ledger
from tests.support.inert_check import html_findings
from tests.support.kernel_helpers import LiveKernel
from tests.support.magic_helpers import run, visible_text
from tests.support.xai_standin import FAKE_KEY, Reply


def chat_count(srv) -> int:
    return len(srv.answer_requests)


@pytest.fixture
def notebook_path(monkeypatch):
    """The kernel of a notebook (Jupyter sets JPY_SESSION_NAME before the kernel starts)."""
    monkeypatch.setenv("JPY_SESSION_NAME", "course/week1.ipynb")
    return "course/week1.ipynb"


@pytest.fixture
def ip(ledger_shell):
    return ledger_shell


def test_a_cell_is_recorded_with_its_execution_count_and_notebook(notebook_path, ip, xai_env,
                                                                  ledger_path):
    result = ip.run_cell("%%grok\nWhat is a median?", store_history=True)  # as a kernel runs it
    assert result.error_in_exec is None
    [row] = Ledger(ledger_path).entries()
    assert (row.source, row.notebook, row.question) == ("cell", notebook_path,
                                                        "What is a median?")
    assert row.cell == result.execution_count == ip.execution_count - 1  # In[n] of that cell
    assert row.answer == ip.user_ns["_grok"].text
    run(ip, "%grok Define the mode briefly")
    assert [r.question for r in Ledger(ledger_path).entries()][-1] == "Define the mode briefly"


def test_in_n_recorded_is_the_one_the_kernel_shows_on_ipython_8_and_9(xai_env, ledger_path):
    """IPython 9.8+ adds one to `shell.execution_count` before a cell runs, 8 after it: the
    ledger row and a Batch API job keep the number of the cell that asked, either way."""
    kernel = LiveKernel()
    try:
        kernel.run(f"import os; os.environ.update(XAI_BASE_URL={xai_env.base_url!r}, "
                   f"XAI_API_KEY={FAKE_KEY!r}, GROK_LEDGER={str(ledger_path)!r})")
        kernel.run("%load_ext grok_magic")
        asked = kernel.run("%%grok\nWhat is a median?")
        kernel.run("xs = ['one', 'two']")
        submitted = kernel.run("%%grok --each xs --batch-api\nLabel {item}")
        assert (asked.status, submitted.status) == ("ok", "ok"), asked.text() + submitted.text()
        report = kernel.run(
            "import json\n"
            "_ledger = get_ipython().magics_manager.registry['GrokMagics'].recorder.ledger\n"
            "_cells = [e.cell for e in _ledger.entries() if e.source == 'cell']\n"
            "print(json.dumps({'cells': _cells, 'job': _grok_batch.record.cell,\n"
            "                  'sources': [In[n] for n in [*_cells, _grok_batch.record.cell]]}))")
    finally:
        kernel.close()
    found = json.loads(report.text().strip().splitlines()[-1])
    shown = [asked.reply["content"]["execution_count"],
             submitted.reply["content"]["execution_count"]]  # In[n] as the front end shows it
    assert [*found["cells"], found["job"]] == shown
    assert "What is a median?" in found["sources"][0] and "--batch-api" in found["sources"][1]


def test_replay_auto_streams_into_the_cell_and_sends_nothing(ip, xai_env):
    xai_env.enqueue(Reply("## Variance\n\nThe **mean** squared deviation.", reasoning="think"))
    live = run(ip, "%%grok\nDefine variance.")
    first = ip.user_ns["_grok"]
    run(ip, "%grok reset")
    run(ip, '%config GrokMagics.replay = "auto"')
    sent = chat_count(xai_env)
    out = run(ip, "%%grok\nDefine variance.")
    assert out.error is None and chat_count(xai_env) == sent
    replayed = ip.user_ns["_grok"]
    assert replayed.replayed and replayed.text == first.text
    assert "The mean squared deviation." in out.shown() and "Variance" in out.shown()
    # Streamed: the answer arrived as updates of a live display, as a live answer does.
    assert any(o.update for o in out.raw)
    assert "<h2>" in out.html() and "<h2>" in live.html()
    usage = out.outputs[-1]["text/plain"]
    assert "replayed: from the ledger: this time $0, first asked $" in usage
    assert "Reasoning" in out.plain()  # the reasoning is replayed too


def test_a_replay_streams_in_over_time_at_no_cost(ip, xai_env):
    """A replay is paced like the live answer (its recorded time, at most replay_pace): several
    display updates over time, not everything at once; still $0 and nothing sent."""
    import time

    answer = "\n\n".join(f"Paragraph {i}: a p-value measures surprise." for i in range(30))
    xai_env.enqueue(Reply(answer, chunk_chars=120, delay=0.1))  # about 1.2 s live
    run(ip, "%%grok\nWhat is a p-value?")
    live_seconds = ip.user_ns["_grok"].elapsed
    run(ip, "%grok reset")
    run(ip, '%config GrokMagics.replay = "auto"')
    run(ip, "%config GrokMagics.replay_pace = 0.8")
    sent, requests = chat_count(xai_env), len(xai_env.requests)
    started = time.monotonic()
    out = run(ip, "%%grok\nWhat is a p-value?")
    took = time.monotonic() - started
    replayed = ip.user_ns["_grok"]
    assert out.error is None and len(xai_env.requests) == requests  # nothing sent at all
    assert replayed.replayed and replayed.text == answer and replayed.cost == 0
    assert live_seconds > 1.0 and 0.7 <= replayed.elapsed <= 1.5 and took >= 0.7
    assert sum(1 for o in out.raw if o.update) >= 4  # streamed: several updates of the answer
    usage = out.outputs[-1]["text/plain"]
    assert "this time $0" in usage and "0.0 s" not in usage
    run(ip, "%grok reset")
    run(ip, "%config GrokMagics.replay_pace = 0")  # off: at once
    started = time.monotonic()
    assert run(ip, "%%grok\nWhat is a p-value?").error is None
    assert time.monotonic() - started < 0.7 and chat_count(xai_env) == sent


def test_replay_only_needs_no_key_and_a_miss_is_one_paragraph(ip, xai_env, monkeypatch):
    run(ip, "%%grok\nWhat is a z-score?")
    monkeypatch.delenv("XAI_API_KEY")
    run(ip, "%grok reset")
    run(ip, '%config GrokMagics.replay = "only"')
    sent = len(xai_env.requests)
    assert run(ip, "%%grok\nWhat is a z-score?").error is None
    assert ip.user_ns["_grok"].replayed
    out = run(ip, "%%grok\nWhat is kurtosis, in one line?")
    assert isinstance(out.error, ReplayMissError)
    assert len(xai_env.requests) == sent  # nothing at all reached the server
    assert "Traceback" not in out.stdout + out.stderr
    assert "What is kurtosis, in one line?" in out.shown() and "ledger" in out.shown()
    assert out.shown().strip().count("\n") == 0


def test_log_shows_the_last_exchanges_safely(ip, xai_env):
    xai_env.enqueue(Reply("<img src=x onerror=alert(1)> **bold** <script>alert(2)</script>"))
    run(ip, "%%grok\nFirst <b onclick=alert(3)>question</b> here")
    run(ip, "%%grok -m grok-3-mini\nSecond question")
    out = run(ip, "%grok log 5")
    assert out.error is None
    html = out.html()
    assert html_findings(html) == []
    assert "<script" not in html and "onerror" not in html.replace("onerror=alert", "")
    shown = out.shown()
    assert "First <b onclick=alert(3)>question</b> here" in shown  # shown as the text it is
    assert "Second question" in shown and "grok-3-mini" in shown
    plain = out.plain()
    assert "Last 2 of 2 exchanges" in plain and "Q: Second question" in plain
    assert " ok" in plain
    one = run(ip, "%grok log 1").plain()
    assert "Second question" in one and "First" not in one
    bad = run(ip, "%grok log many")
    assert bad.error is not None and "%grok log takes" in str(bad.error)


LONG_ANSWER = ("## The median\n\nThe **median** is the *middle* value of a sorted list: "
               "half of the values lie below it and half above, so `outliers` move it far less "
               "than they move the mean, which is why incomes are summarised by their median.")


def cells_of(html: str, tag: str = "td") -> list[tuple[str, str]]:
    """(attributes, text) of every `tag` cell in `html`, in order."""
    return [(attrs, visible_text(text)) for attrs, text in
            re.findall(rf"<{tag}((?:\s[^>]*)?)>(.*?)</{tag}>", html, re.S)]


def test_log_is_a_readable_table_with_plain_previews_and_one_exchange_whole(ip, xai_env,
                                                                            ledger_path):
    xai_env.enqueue(Reply(LONG_ANSWER), Reply("<img src=x onerror=alert(1)> **fine**"))
    ip.run_cell("%%grok\nWhat is a **median**?", store_history=True)
    run(ip, "%%grok -m grok-3-mini\nAnd <b>the mode</b>?")
    first, second = Ledger(ledger_path).entries()
    out = run(ip, "%grok log")
    html = out.html()
    assert html_findings(html) == []
    header = [text for _, text in cells_of(html, "th")]
    assert header == ["#", "time", "model", "tokens", "cost", "status", "question", "answer"]
    rows = cells_of(html)
    assert len(rows) == 2 * len(header)
    number, when, model, tokens, cost, status, question, answer = rows[:len(header)]
    assert number[1] == str(first.id) and model[1] == first.model_served
    for attrs, _ in (when, model):  # dates and model names never wrap
        assert 'class="grok-left grok-nowrap"' in attrs and "white-space: nowrap" in attrs
    for attrs, _ in (tokens, cost):
        assert "text-align: right" in attrs
    for attrs, _ in (status, question, answer):  # text reads from the left
        assert "text-align: left" in attrs and "nowrap" not in attrs
    # previews: what a reader sees of the Markdown, as plain text, longer, ellipsised
    assert question[1] == "What is a median?"
    assert answer[1].startswith("The median The median is the middle value of a sorted list")
    assert answer[1].endswith("…") and 120 <= len(answer[1]) <= 160
    assert "*" not in answer[1] and "#" not in answer[1] and "`" not in answer[1]
    assert rows[len(header) + 6][1] == "And <b>the mode</b>?"  # HTML shown as the text it is
    assert f"#{first.id}  " in out.plain() and "A: The median The median is" in out.plain()
    assert "%grok log NUMBER --full" in out.shown()

    whole = run(ip, f"%grok log {first.id} --full")
    assert whole.error is None
    shown, html = whole.shown(), whole.html()
    assert html_findings(html) == []
    assert f"Exchange #{first.id}" in shown and first.model_served in shown
    assert "What is a median?" in shown  # the question, rendered
    assert "<strong>median</strong>" in html and "<h2>The median</h2>" in html  # the answer too
    assert "which is why incomes are summarised by their median." in shown  # whole
    assert whole.plain().endswith(LONG_ANSWER)
    hostile = run(ip, f"%grok log {second.id} --full")
    assert html_findings(hostile.html()) == [] and "onerror=" not in hostile.html().replace(
        "onerror=alert", "")
    missing = run(ip, "%grok log 999 --full")
    assert "There is no exchange #999 in the ledger" in missing.plain()
    bad = run(ip, "%grok log --full")
    assert bad.error is not None and "%grok log 7 --full" in str(bad.error)


def test_usage_is_split_by_model(ip, xai_env):
    run(ip, "%%grok\nOne")
    run(ip, "%%grok -m grok-3-mini\nTwo")
    run(ip, "%%grok -m grok-3-mini\nThree")
    out = run(ip, "%grok usage")
    tally = ip.grok_magics.recorder.tally
    mini = next(name for name in tally.models if "mini" in name)
    assert f"\n{mini}: 2 answers" in out.plain()
    rows = [text for _, text in cells_of(out.html())]
    at = rows.index(mini)
    assert rows[at + 1] == "2" and rows[at + 2] == f"{tally.models[mini][1]:,}"
    assert html_findings(out.html()) == []


def test_usage_plot_draws_tokens_and_cost_per_cell_and_per_day(ip, xai_env, ledger_path,
                                                               monkeypatch):
    from matplotlib.figure import Figure

    drawn = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (drawn.append(self),
                                                                  save(self, *a, **k))[1])
    for question in ("One", "Two"):
        ip.run_cell(f"%%grok\n{question}", store_history=True)
    ip.run_cell("%%grok -m grok-3-mini\nThree", store_history=True)
    entries = Ledger(ledger_path).entries()
    out = run(ip, "%grok usage --plot")
    assert out.error is None
    (shown,) = out.outputs
    png = shown["image/png"]
    png = png if isinstance(png, bytes) else base64.b64decode(png)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    (figure,) = drawn
    tokens, cost = figure.axes
    assert [t.get_text() for t in cost.get_xticklabels()] == [f"In [{e.cell}]" for e in entries]
    assert [b.get_height() for b in tokens.patches] == [e.total_tokens for e in entries]
    assert [b.get_height() for b in cost.patches] == pytest.approx([e.cost for e in entries])
    assert f"In [{entries[0].cell}]: {entries[0].total_tokens:,} tokens" in shown["text/plain"]
    run(ip, "%grok usage --today --plot")
    tokens, cost = drawn[-1].axes
    assert [t.get_text() for t in cost.get_xticklabels()] == [
        datetime.now().strftime("%Y-%m-%d")]
    assert [b.get_height() for b in tokens.patches] == [sum(e.total_tokens for e in entries)]
    assert [b.get_height() for b in cost.patches] == pytest.approx([sum(e.cost for e in entries)])
    bad = run(ip, "%grok usage --plot --month")
    assert bad.error is not None and "--plot" in str(bad.error)


def test_usage_periods_from_the_ledger(ip, xai_env, ledger_path):
    run(ip, "%%grok\nOne")
    run(ip, "%%grok -m grok-3-mini\nTwo")
    run(ip, "%%grok -m grok-3-mini\nThree")
    ledger = Ledger(ledger_path)
    total = sum(e.cost for e in ledger.entries())
    for flag in ("--today", "--week", "--all"):
        out = run(ip, f"%grok usage {flag}")
        assert out.error is None
        plain = out.plain()
        assert "total: 3 answers" in plain
        served = ledger.entries(model="grok-3-mini")[0].model_served
        assert f"{served}: 2 answers" in plain
        assert f"${total:.6f}" in plain or f"${total:.4f}" in plain
    session = run(ip, "%grok usage").plain()
    assert "answers: 3" in session
    bad = run(ip, "%grok usage --month")
    assert bad.error is not None and "--today, --week or --all" in str(bad.error)


def test_export_session_and_notebook(notebook_path, ip, xai_env, tmp_path):
    run(ip, "%%grok\nLesson one")
    run(ip, "%%grok\nLesson two")
    out = run(ip, f"%grok export {tmp_path / 'lesson.sqlite'}")
    assert "Exported 2 exchanges of this session" in out.stdout
    assert [e.question for e in Ledger(tmp_path / "lesson.sqlite").entries()] == [
        "Lesson one", "Lesson two"]
    again = run(ip, f"%grok export {tmp_path / 'lesson.sqlite'}")
    assert "already exists" in again.stdout and "--replace" in again.stdout
    out = run(ip, f"%grok export {tmp_path / 'nb.sqlite'} --notebook")
    assert f"of notebook {notebook_path}" in out.stdout
    bad = run(ip, "%grok export")
    assert bad.error is not None and "one file name" in str(bad.error)


def test_export_by_notebook_needs_a_known_notebook(ip, tmp_path):
    out = run(ip, f"%grok export {tmp_path / 'nb.sqlite'} --notebook")
    assert "does not know its notebook" in out.stdout
    assert not (tmp_path / "nb.sqlite").exists()


def test_the_exported_lesson_replays_in_a_fresh_kernel_without_key(ip, xai_env, tmp_path,
                                                                     monkeypatch):
    run(ip, "%%grok\nExplain overfitting.")
    run(ip, "%%grok\nAnd underfitting?")
    answers = [e.answer for e in ip.grok_magics.recorder.ledger.entries()]
    run(ip, f"%grok export {tmp_path / 'lesson.sqlite'}")
    before = (tmp_path / "lesson.sqlite").read_bytes()
    monkeypatch.delenv("XAI_API_KEY")
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.1:9/v1")  # no network either
    run(ip, "%grok reset")
    run(ip, f'%config GrokMagics.ledger = "{tmp_path / "lesson.sqlite"}"')
    run(ip, '%config GrokMagics.replay = "only"')
    assert run(ip, "%%grok\nExplain overfitting.").error is None
    assert ip.user_ns["_grok"].text == answers[0]
    assert run(ip, "%%grok\nAnd underfitting?").error is None
    assert ip.user_ns["_grok"].text == answers[1]
    ip.grok_magics.recorder.ledger.close()
    assert (tmp_path / "lesson.sqlite").read_bytes() == before


def test_budget_in_cells(ip, xai_env):
    run(ip, "%config GrokMagics.budget = 0.0002")
    first = run(ip, "%%grok\nShort question")
    cost = ip.user_ns["_grok"].cost
    assert first.outputs[-1]["text/plain"].endswith(f"budget: ${cost:.6f} of $0.000200")
    sent = chat_count(xai_env)
    run(ip, f"%config GrokMagics.budget = {cost}")
    out = run(ip, "%%grok\nAnother question")
    assert isinstance(out.error, BudgetExceeded)
    assert chat_count(xai_env) == sent
    assert "Traceback" not in out.stdout + out.stderr
    assert f"${cost:.6f} of ${cost:.6f}" in out.told() and "%config GrokMagics.budget" in out.told()
    run(ip, "%config GrokMagics.budget = None")
    assert run(ip, "%%grok\nAnother question").error is None
    assert chat_count(xai_env) == sent + 1


def test_daily_budget_counts_what_other_kernels_spent(ip, xai_env, ledger_path):
    # Another kernel spent $1 today (a row it wrote to the shared ledger).
    run(ip, "%%grok\nWarm-up")
    conn = sqlite3.connect(ledger_path)
    conn.execute("UPDATE exchanges SET cost = 1.0, session = 'another-kernel'")
    conn.commit()
    conn.close()
    run(ip, "%config GrokMagics.daily_budget = 1.0")
    sent = chat_count(xai_env)
    out = run(ip, "%%grok\nOne more")
    assert isinstance(out.error, BudgetExceeded) and "today (every kernel)" in out.told()
    assert chat_count(xai_env) == sent


def test_the_chat_panel_obeys_the_budget(ip, xai_env):
    run(ip, "%%grok\nFirst")
    cost = ip.user_ns["_grok"].cost
    run(ip, f"%config GrokMagics.budget = {cost}")
    run(ip, "%grok chat")
    panel = ip.user_ns["_grok_panel"]
    sent = chat_count(xai_env)
    panel.input.value = "a question from the panel"
    panel.send_button.click()
    panel.wait(10)
    assert chat_count(xai_env) == sent
    assert "Budget reached" in panel.error_box.value
    assert panel.input.value == "a question from the panel"  # nothing typed is lost
    with pytest.raises(BudgetExceeded):
        panel.send("scripted")
    # And the panel's exchanges are recorded as the panel's.
    run(ip, "%config GrokMagics.budget = None")
    panel.send("now it goes")
    assert ip.grok_magics.recorder.ledger.entries()[-1].source == "panel"


def test_settings_show_the_ledger(ip, ledger_path):
    plain = run(ip, "%grok").plain()
    assert str(ledger_path) in plain and "replay: off" in plain
    run(ip, '%config GrokMagics.ledger = "off"')
    assert "ledger: off" in run(ip, "%grok").plain()
    assert "The ledger is off" in run(ip, "%grok log").stdout

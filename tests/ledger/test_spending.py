"""Money a teacher can bill by: every answer in the ledger once, however often a batch job is
re-attached; budgets that hold at any concurrency and across kernels; stopped and cut-off answers
priced (as estimates, marked so); `%grok usage` counting answers, failures and stops apart; a
damaged or unreadable ledger said plainly. Real shells and kernels, real client, the stand-in."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from grok_magic import ask_each
from grok_magic.ledger.recorder import Recorder
from grok_magic.ledger.store import Entry, Ledger, utc_now
from grok_magic.runs.batch_job import BatchJob
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from tests.support.kernel_helpers import LiveKernel
from tests.support.magic_helpers import run, wait_until
from tests.support.xai_standin import FAKE_KEY, Fault, Reply

TESTS = Path(__file__).resolve().parent
ITEMS = [f"item {i:03d}" for i in range(60)]  # prompts of one length: answers of one cost


@pytest.fixture
def ip(ledger_shell):
    return ledger_shell


def rows(path: Path, where: str = "") -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM exchanges {where} ORDER BY id").fetchall()
    finally:
        conn.close()


# -- batch jobs: recorded once -------------------------------------------------------------------
ATTACH = r"""
import json, sys
from grok_magic.runs.batch_job import BatchJob, PollSchedule
from grok_magic.runs.batch_job import BatchJob
from grok_magic.xai.client import GrokClient
from grok_magic.ledger.recorder import Recorder
from grok_magic.settings import Settings

job = BatchJob.attach(sys.argv[1], GrokClient(Settings.load()), Recorder.from_env(),
                      schedule=PollSchedule(first=0.02, factor=1.0, floor=0.02, cap=0.02))
table = job.wait(timeout=30)
print(json.dumps({"rows": len(table), "cost": float(table["cost"].sum())}))
"""


def test_a_batch_job_is_recorded_once_however_often_it_is_attached(ip, xai_env, ledger_path):
    ip.user_ns["docs"] = [f"document {i}" for i in range(12)]
    run(ip, "%%grok --each docs --batch-api -o labels\nLabel {item}")
    job = ip.user_ns["_grok_batch"]
    wait_until(lambda: not isinstance(ip.user_ns["labels"], BatchJob), timeout=20)
    assert len(ip.user_ns["labels"]) == 12
    first = rows(ledger_path, "WHERE source = 'batch'")
    assert len(first) == 12
    real_cost = sum(r["cost"] for r in first)
    # Re-attached twice in this kernel, then in two new kernels (processes) in turn.
    for _ in range(2):
        out = run(ip, f"%grok batch {job.id}")
        assert out.error is None and "12 of 12 answered" in out.plain()
    env = dict(os.environ, GROK_LEDGER=str(ledger_path))
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", ATTACH, job.id], env=env, cwd=TESTS,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1])["rows"] == 12
    again = rows(ledger_path, "WHERE source = 'batch'")
    assert [r["answer_key"] for r in again] == [r["answer_key"] for r in first]
    assert len({r["answer_key"] for r in again}) == 12
    usage = run(ip, "%grok usage --today").plain()
    assert "12 answers" in usage and f"${real_cost:.6f}" in usage


def test_the_schema_itself_refuses_an_answer_twice(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    entry = dict(time=utc_now(), session="s", source="batch", request_hash="h", request="{}",
                 status="ok", cost=0.25, answer_key="batch:b1:row-1")
    assert ledger.record_many([Entry(**entry), Entry(**entry)]) == 1
    assert ledger.record_many([Entry(**entry)]) == 0
    conn = sqlite3.connect(ledger.path)
    with pytest.raises(sqlite3.IntegrityError):  # not a flag callers must remember
        conn.execute("INSERT INTO exchanges (time, session, source, api, endpoint, request_hash, "
                     "request, status, answer_key) VALUES ('t', 's', 'batch', 'chat', '/x', 'h', "
                     "'{}', 'ok', 'batch:b1:row-1')")
    conn.close()
    assert ledger.spent() == 0.25


# -- budgets under concurrency -------------------------------------------------------------------
def one_answer_cost(xai_env) -> float:
    """What one answer to one of ITEMS costs at the stand-in (measured, ledger off)."""
    table = ask_each("Label {item}", ITEMS[:1], client=GrokClient(Settings.load()),
                     recorder=Recorder(None))
    return float(table["cost"].iloc[0])


@pytest.mark.parametrize("concurrency", [1, 8, 32])
def test_a_daily_budget_holds_at_any_concurrency(xai_env, tmp_path, concurrency):
    cost = one_answer_cost(xai_env)
    xai_env.latency = 0.15  # many requests in flight at once
    budget = 10.5 * cost  # room for 10 answers and half of an eleventh
    recorder = Recorder(Ledger(tmp_path / "l.sqlite"), daily_budget=budget)
    table = ask_each("Label {item}", ITEMS[:40], client=GrokClient(Settings.load()),
                     recorder=recorder, concurrency=concurrency)
    answered = int(table["error"].isna().sum())
    spent = recorder.ledger.spent()
    assert 10 <= answered <= 11, (answered, table["error"].dropna().unique())
    assert spent <= budget + cost * 1.001  # overshoot: at most the last answer let through
    assert recorder.ledger.reserved() == 0  # every reservation settled
    assert "daily_budget" in " ".join(table["error"].dropna().unique())


KERNEL_RUN = """
%load_ext grok_magic
%config GrokMagics.daily_budget = {budget!r}
items = {items!r}
"""


def test_two_kernels_share_one_daily_budget(xai_env, ledger_path):
    cost = one_answer_cost(xai_env)
    xai_env.latency = 0.15
    budget = 12.5 * cost
    kernels = [LiveKernel(), LiveKernel()]
    try:
        for n, kernel in enumerate(kernels):
            kernel.run(f"import os; os.environ.update(XAI_BASE_URL={xai_env.base_url!r}, "
                       f"XAI_API_KEY={FAKE_KEY!r}, GROK_LEDGER={str(ledger_path)!r})")
            kernel.run(KERNEL_RUN.format(budget=budget, items=ITEMS[n * 30:(n + 1) * 30]))
        results: list = [None, None]

        def each(n: int) -> None:
            results[n] = kernels[n].run("%%grok --each items --concurrency 16 -o out\n"
                                        "Label {item}", timeout=120)

        threads = [threading.Thread(target=each, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
        assert all(r is not None and r.status == "ok" for r in results)
        answered = [kernels[n].run("print(int(out['error'].isna().sum()))").text().strip()
                    for n in range(2)]
        stopped = [kernels[n].run("print(out['error'].dropna().str.contains('daily_budget')"
                                  ".any())").text().strip() for n in range(2)]
    finally:
        for kernel in kernels:
            kernel.close()
    ok = rows(ledger_path, "WHERE status = 'ok'")
    assert sum(int(a) for a in answered) == len(ok)
    # Each kernel alone could spend the whole budget on its 30 items: both were stopped by it,
    # however the two runs interleaved (on a busy machine one may start after the other spent it).
    assert stopped == ["True", "True"], stopped
    assert 12 <= len(ok) <= 13, len(ok)
    assert sum(r["cost"] for r in ok) <= budget + cost * 1.001
    conn = sqlite3.connect(ledger_path)
    assert conn.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0
    conn.close()


# -- stopped and cut-off answers are billed ------------------------------------------------------
def test_cut_off_answers_are_priced_as_estimates_and_usage_counts_them_apart(ip, xai_env,
                                                                            ledger_path):
    run(ip, "%%grok\nA first, complete answer")
    exact = ip.user_ns["_grok"]
    xai_env.enqueue(Reply("one two three four five six seven eight " * 20, chunk_chars=8,
                          cut_after=12))
    run(ip, "%%grok\nAn answer the network cuts off")
    cut = ip.user_ns["_grok"]
    xai_env.enqueue(Fault(404, {"code": "Some requested entity was not found",
                                "error": "The model grok-nope does not exist."}))
    run(ip, "%%grok -m grok-nope\nA failed request")
    assert exact.cost_exact and not cut.cost_exact
    assert cut.partial and cut.cost is not None and cut.cost > 0
    # ≈ the prompt estimate plus the text received (at ~4 characters a token) at grok's prices.
    assert cut.billed_usage.completion_tokens == -(-len(cut.text) // 4)
    [ok, incomplete, failed] = rows(ledger_path)
    assert (ok["status"], ok["cost_exact"]) == ("ok", 1)
    assert (incomplete["status"], incomplete["cost_exact"]) == ("incomplete", 0)
    assert incomplete["cost"] == pytest.approx(cut.cost)
    assert failed["status"] == "error" and failed["cost"] is None
    log = run(ip, "%grok log").plain()
    assert f"≈ {incomplete['total_tokens']:,} tokens  ≈ ${cut.cost:.6f}  incomplete" in log
    assert "≈: an estimate" in log
    usage = run(ip, "%grok usage --today").plain()
    model = exact.model
    assert f"{model}: 1 answers, 0 failed, 1 stopped or cut off" in usage, usage
    assert "grok-nope: 0 answers, 1 failed, 0 stopped or cut off" in usage, usage
    assert "total: 1 answers, 1 failed, 1 stopped or cut off" in usage
    assert f"≈ ${exact.cost + cut.cost:.6f}" in usage
    session = run(ip, "%grok usage").plain()
    assert "(1 priced by estimate)" in session and "≈ $" in session


def test_an_estimated_cost_counts_toward_the_budget(ip, xai_env, ledger_path):
    xai_env.enqueue(Reply("word " * 400, chunk_chars=10, cut_after=30))
    run(ip, "%%grok\nCut off")
    cut = ip.user_ns["_grok"]
    assert not cut.cost_exact and cut.cost > 0
    run(ip, f"%config GrokMagics.daily_budget = {cut.cost}")
    sent = len(xai_env.answer_requests)
    out = run(ip, "%%grok\nAnother")
    assert out.error is not None and "daily_budget" in str(out.error)
    assert len(xai_env.answer_requests) == sent


# -- an honest ledger ----------------------------------------------------------------------------
def test_a_damaged_ledger_is_moved_aside_untouched_and_a_new_one_begun(ip, xai_env, ledger_path):
    ledger = Ledger(ledger_path)
    ledger.record_many([Entry(time=utc_now(), session="old", source="cell", request_hash=f"h{i}",
                              request="{}", status="ok", question=f"old question {i} " * 20,
                              answer="an old answer " * 40, answer_key=f"live:{i}")
                        for i in range(300)])
    ledger.close()
    conn = sqlite3.connect(ledger_path)
    conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, as after a checkpoint
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(ledger_path.read_bytes())
    rng = random.Random(7)
    for page in (pages // 2, pages - 2):  # random bytes inside data pages, header left alone
        start = page * page_size  # its b-tree header and cell pointers, and on
        data[start:start + 600] = bytes(rng.randrange(256) for _ in range(600))
    ledger_path.write_bytes(bytes(data))
    out = run(ip, "%%grok\nA question after the damage")
    assert out.error is None and ip.user_ns["_grok"].text
    [moved] = [p for p in ledger_path.parent.iterdir() if ".damaged-" in p.name]
    assert moved.read_bytes() == bytes(data)  # byte-identical, nothing written into it
    said = out.everything()
    assert str(ledger_path) in said and str(moved) in said and "damaged" in said
    [row] = rows(ledger_path)
    assert row["question"] == "A question after the damage"


def test_log_and_usage_say_an_unreadable_ledger_could_not_be_read(ip, ledger_path):
    ledger_path.write_bytes(b"not a ledger at all \x00\xff" * 300)
    for command in ("%grok log", "%grok usage --all", "%grok usage --today"):
        out = run(ip, command)
        text = out.plain()
        assert f"The ledger at {ledger_path} could not be read (file is not a database)" in text
        assert "no exchanges" not in text and "$0" not in text


def test_a_replay_only_ledger_is_listed(ip, xai_env, ledger_path):
    ledger = Ledger(ledger_path)
    ledger.record_many([Entry(time=utc_now(), session="lesson", source="cell",
                              request_hash=f"h{i}", request="{}", status="ok",
                              question=f"Lesson question {i}", answer_key=f"live:{i}", cost=0.001)
                        for i in range(20)])
    ledger.close()
    run(ip, '%config GrokMagics.replay = "only"')
    log = run(ip, "%grok log 30").plain()
    assert "Last 20 of 20 exchanges" in log and "Lesson question 19" in log
    assert "20 answers" in run(ip, "%grok usage --all").plain()

"""`--each` retries that are honest, end to end against the stand-in: a 429 with Retry-After
keeps its item queued (until the run's deadline) without using its retries, an item answered
after retries leaves no error row in the ledger file, one that fails for good leaves one."""

from __future__ import annotations

import re
import sqlite3

import pandas as pd
import pytest

from grok_magic import ask_each
from grok_magic.ledger.recorder import Recorder
from grok_magic.runs.each import Each
from tests.support.magic_helpers import close_ledger, magic_shell, run
from tests.support.xai_standin import Fault, Reply

ECHO = re.compile(r'to: "(.*?)"')


def chat_bodies(srv) -> list[dict]:
    return [r.as_chat for r in srv.answer_requests]


def ledger_rows(path) -> list[tuple]:
    """(status, question, error) of every exchange in the ledger file, oldest first."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT status, question, error FROM exchanges ORDER BY id").fetchall()


@pytest.fixture
def ledger_file(tmp_path):
    return tmp_path / "ledger.sqlite"


@pytest.fixture
def recorder(ledger_file):
    recorder = Recorder(location=ledger_file)
    yield recorder
    if recorder.ledger is not None:
        recorder.ledger.close()


@pytest.fixture
def ip(xai_env, ledger_file, monkeypatch):
    monkeypatch.setenv("GROK_LEDGER", str(ledger_file))
    shell_ = magic_shell(max_retries=0)
    yield shell_
    close_ledger(shell_)


def test_200_rows_through_many_429s_with_retry_after_all_answered(ip, xai_env, ledger_file):
    # Every 4th request is answered 429 + Retry-After: 0.05, and no item may retry even once
    # (max_retries=0): a "later" uses none of an item's retries.
    xai_env.throttle_every, xai_env.throttle_retry_after = 4, 0.05
    ip.user_ns["words"] = [f"word {i}" for i in range(200)]
    out = run(ip, "%%grok --each words -o said --concurrency 8\nSay back: {item} #{index}")
    assert out.error is None
    said = ip.user_ns["said"]
    assert said["error"].isna().all()
    assert [ECHO.search(a).group(1) for a in said["answer"]] == [
        f"Say back: word {i} #{i}" for i in range(200)]
    assert "200 of 200 answered" in out.plain() and "failed" not in out.plain()
    assert "× 429 (slowed down)" in out.plain()  # the progress bar says why it is slower
    assert len(chat_bodies(xai_env)) >= 200 + 200 // 4  # the 429s were sent again
    rows = ledger_rows(ledger_file)
    assert len(rows) == 200 and {status for status, _, _ in rows} == {"ok"}


def test_an_item_answered_after_retries_has_one_ok_row_and_no_error_row(
        client, recorder, xai_env, ledger_file):
    # A 429 without Retry-After and a 503 use the item's two retries; the 429 with Retry-After
    # uses none, so it is answered on the fourth request.
    xai_env.enqueue(Fault(429), Fault(503, headers={"Retry-After": "0.01"}),
                    Fault.rate_limited(0.01), Reply("a done"))
    each = Each("Q {item}", ["a"], client=client, recorder=recorder, max_retries=2)
    frame = each.run()
    assert frame.loc[0, "answer"] == "a done" and pd.isna(frame.loc[0, "error"])
    assert each.summary.ok == 1 and each.summary.failed == 0
    assert len(chat_bodies(xai_env)) == 4
    assert ledger_rows(ledger_file) == [("ok", "Q a", None)]


def test_an_item_that_fails_for_good_has_exactly_one_error_row(
        client, recorder, xai_env, ledger_file):
    soon = {"Retry-After": "0.01"}
    xai_env.enqueue(Reply("b done"), Fault(500, headers=soon), Fault(502, headers=soon),
                    Fault(500, headers=soon))
    frame = ask_each("Q {item}", ["b", "a"], client=client, recorder=recorder, concurrency=1,
                     max_retries=2)
    assert frame.loc[0, "answer"] == "b done" and pd.isna(frame.loc[0, "error"])
    assert frame.loc[1, "error"].startswith("xAI server error (HTTP 500)")
    assert len(chat_bodies(xai_env)) == 1 + 3
    rows = ledger_rows(ledger_file)
    assert [(status, question) for status, question, _ in rows] == [("ok", "Q b"),
                                                                    ("error", "Q a")]
    assert rows[1][2].startswith("xAI server error (HTTP 500)")


def test_429_without_retry_after_keeps_bounded_retries(client, recorder, xai_env, ledger_file):
    xai_env.enqueue(Fault(429), Fault(429))
    frame = ask_each("Q {item}", ["a"], client=client, recorder=recorder, max_retries=1)
    assert frame.loc[0, "error"].startswith("Rate limited (HTTP 429)")
    assert len(chat_bodies(xai_env)) == 2
    assert [status for status, _, _ in ledger_rows(ledger_file)] == ["error"]


def test_retry_after_uses_no_retries_many_times_over(client, recorder, xai_env, ledger_file):
    xai_env.enqueue(*[Fault.rate_limited(0.01) for _ in range(6)], Reply("finally"))
    seen = []
    frame = ask_each("Q {item}", ["a"], client=client, recorder=recorder, max_retries=0,
                     progress=seen.append)
    assert frame.loc[0, "answer"] == "finally" and pd.isna(frame.loc[0, "error"])
    assert len(chat_bodies(xai_env)) == 7
    assert seen[-1].rate_limited == 6 and seen[-1].waits == 6 and seen[-1].failed == 0
    assert ledger_rows(ledger_file) == [("ok", "Q a", None)]


def test_after_the_deadline_a_429_with_retry_after_counts_as_a_failure(
        client, recorder, xai_env, ledger_file):
    xai_env.throttle_every, xai_env.throttle_retry_after = 1, 0.05  # xAI never lets up
    frame = ask_each("Q {item}", ["a"], client=client, recorder=recorder, max_retries=1,
                     deadline=0.3)
    assert frame.loc[0, "error"].startswith("Rate limited (HTTP 429)")
    # Sent, then at least once more while waiting was allowed, then its one retry.
    assert len(chat_bodies(xai_env)) >= 3
    assert [status for status, _, _ in ledger_rows(ledger_file)] == ["error"]


def test_the_magic_waits_until_grokmagics_deadline(ip, xai_env, ledger_file):
    ip.grok_magics.deadline = 0.3
    xai_env.throttle_every, xai_env.throttle_retry_after = 1, 0.05
    ip.user_ns["words"] = ["a", "b"]
    out = run(ip, "%%grok --each words -o said\nQ {item}")
    assert out.error is None
    said = ip.user_ns["said"]
    assert said["error"].str.startswith("Rate limited (HTTP 429)").all()
    assert "0 of 2 answered · 2 failed" in out.plain()
    assert len(chat_bodies(xai_env)) >= 4  # each waited at least once (max_retries is 0)
    assert sorted((s, q) for s, q, _ in ledger_rows(ledger_file)) == [("error", "Q a"),
                                                                      ("error", "Q b")]


@pytest.mark.parametrize("status", [403, 429])
def test_out_of_credits_stops_the_run_at_once_even_with_retry_after(
        client, recorder, xai_env, ledger_file, status):
    xai_env.enqueue(Reply("fine"), Fault.credits(status, headers={"Retry-After": "0.01"}))
    frame = ask_each("Q {item}", [str(i) for i in range(6)], client=client, recorder=recorder,
                     concurrency=1)
    assert frame.loc[0, "answer"] == "fine"
    assert frame.loc[1, "error"].startswith(f"Out of credits (HTTP {status})")
    assert frame["error"][2:].str.startswith("not sent: the run stopped").all()
    assert len(chat_bodies(xai_env)) == 2
    assert [(s, q) for s, q, _ in ledger_rows(ledger_file)] == [("ok", "Q 0"), ("error", "Q 1")]

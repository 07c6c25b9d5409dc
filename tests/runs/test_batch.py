"""`--each --batch-api` end to end: JSONL built and uploaded to the stand-in's Files API, a batch
created, watched, its results mapped back and recorded; jobs that outlive the kernel; faults."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import grok_magic.xai.batch_api as batch_api
from grok_magic import ask_each
from grok_magic.errors import APIStatusError
from grok_magic.ledger.batches import BatchBook
from grok_magic.ledger.recorder import Recorder
from grok_magic.ledger.store import Ledger
from grok_magic.runs.batch_job import BatchJob, PollSchedule
from grok_magic.runs.batch_submit import submit
from grok_magic.runs.each import Each
from grok_magic.xai.batch_api import BatchAPI, BatchPendingError, BatchTooLargeError
from tests.support.inert_check import html_findings
from tests.support.kernel_helpers import drain_until_idle
from tests.support.magic_helpers import close_ledger, magic_shell, run, wait_until
from tests.support.standin_batches import batch_state, enqueue_batches
from tests.support.xai_standin import FAKE_KEY, Close, Fault, as_chat

FAST = PollSchedule(first=0.02, factor=1.0, floor=0.02, cap=0.02)
TESTS = Path(__file__).resolve().parent
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def requests_to(srv, path: str, method: str | None = None) -> list:
    return [r for r in srv.requests if r.path.split("?")[0] == path and
            (method is None or r.method == method)]


def uploaded_lines(srv) -> list[dict]:
    [data] = batch_state(srv).files.values()
    return [json.loads(line) for line in data.decode().splitlines()]


@pytest.fixture
def recorder(tmp_path) -> Recorder:
    return Recorder(Ledger(tmp_path / "ledger.sqlite"))


def make_each(client, recorder, items, template="Label {item}", **kw) -> Each:
    return Each(template, items, client=client, recorder=recorder, **kw)


# -- the happy path ------------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_jsonl_upload_batch_and_results_aligned_by_custom_id(client, recorder, xai_env, api):
    items = [f"review {i}" for i in range(12)]
    job = submit(make_each(client, recorder, items, system="Be terse.", max_tokens=30, api=api),
                 schedule=FAST)
    lines = uploaded_lines(xai_env)
    assert [line["custom_id"] for line in lines] == [f"row-{i}" for i in range(12)]
    url = {"responses": "/v1/responses", "chat": "/v1/chat/completions"}[api]
    assert all(line["method"] == "POST" and line["url"] == url for line in lines)
    body = lines[3]["body"]
    assert "stream" not in body and "stream_options" not in body
    assert as_chat(body)["messages"] == [{"role": "system", "content": "Be terse."},
                                         {"role": "user", "content": "Label review 3"}]
    assert as_chat(body)["max_completion_tokens"] == 30
    [upload] = requests_to(xai_env, "/v1/files", "POST")
    assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert int(upload.headers["Content-Length"]) == len(upload.body)  # not chunked
    assert FAKE_KEY not in upload.body.decode()
    [create] = requests_to(xai_env, "/v1/batches", "POST")
    assert create.json["input_file_id"].startswith("file_")
    frame = job.wait(10)
    assert list(frame.index) == list(range(12))
    assert [a.split('"')[1] for a in frame["answer"]] == [f"Label review {i}" for i in
                                                          range(12)]
    assert frame["error"].isna().all() and (frame["cost"] > 0).all()
    # Recorded in the ledger as Batch API exchanges, at the cost xAI charged (ticks).
    entries = recorder.ledger.entries()
    assert [e.source for e in entries] == ["batch"] * 12
    assert sum(e.cost for e in entries) == pytest.approx(frame["cost"].sum())
    assert entries[0].question == "Label review 0" and entries[0].status == "ok"
    assert {e.api for e in entries} == {api}


def test_running_it_again_replays_instead_of_resubmitting(client, recorder, xai_env):
    items = ["a", "b", "c"]
    first = submit(make_each(client, recorder, items), schedule=FAST).wait(10)
    uploads = len(requests_to(xai_env, "/v1/files", "POST"))
    again = submit(make_each(client, recorder, items), schedule=FAST)
    assert len(requests_to(xai_env, "/v1/files", "POST")) == uploads  # nothing sent
    table = again.wait(1)
    assert list(table["answer"]) == list(first["answer"])
    assert table["replayed"].all() and (table["cost"] == 0).all()
    # One new item: only it is sent.
    job = submit(make_each(client, recorder, [*items, "d"]), schedule=FAST)
    assert [as_chat(line["body"])["messages"][0]["content"] for line in
            [json.loads(x) for x in list(batch_state(xai_env).files.values())[-1]
             .decode().splitlines()]] == ["Label d"]
    assert job.wait(10)["replayed"].tolist() == [True, True, True, False]


def test_a_run_replayed_whole_is_kept_as_a_job_that_reattaches(client, recorder, xai_env):
    """Every row answered before: nothing is sent, and the job is still in the ledger (done,
    rows replayed), under an id of its own requests, found by attach (`%grok batch ID`)."""
    items = ["a", "b", "c"]
    first = submit(make_each(client, recorder, items), schedule=FAST).wait(10)
    again = submit(make_each(client, recorder, items), schedule=FAST)
    other = submit(make_each(client, recorder, items, template="Other {item}"), schedule=FAST)
    other.wait(10)
    other_again = submit(make_each(client, recorder, items, template="Other {item}"),
                         schedule=FAST)
    assert again.id.startswith("local-") and other_again.id.startswith("local-")
    assert again.id != other_again.id  # named by its requests, not by "nothing was sent"
    assert submit(make_each(client, recorder, items), schedule=FAST).id == again.id
    book = BatchBook(recorder.ledger)
    assert [j.id for j in book.jobs()].count(again.id) == 1  # kept once, however often replayed
    assert book.job(again.id).status == "done"
    asked = len(xai_env.requests)
    attached = BatchJob.attach(again.id, client, recorder, schedule=FAST)
    assert attached.status().finished
    table = attached.results()
    assert len(xai_env.requests) == asked  # re-attaching a replayed job asks xAI nothing
    assert list(table["answer"]) == list(first["answer"]) and table["replayed"].all()


def test_the_same_run_still_pending_is_reattached_not_resubmitted(client, recorder, xai_env):
    batch_state(xai_env).latency = 0.05
    items = [str(i) for i in range(20)]
    first = submit(make_each(client, recorder, items), schedule=FAST)
    second = submit(make_each(client, recorder, items), schedule=FAST)
    assert second.id == first.id
    assert len(requests_to(xai_env, "/v1/batches", "POST")) == 1
    assert second.wait(10)["error"].isna().all()


def test_ask_each_via_batch_api_returns_a_job(client, recorder, xai_env):
    job = ask_each("Q {item}", ["x", "y"], client=client, recorder=recorder, via="batch-api")
    assert isinstance(job, BatchJob)
    job.schedule = FAST
    assert list(job.wait(10)["answer"].str.contains("Q y")) == [False, True]
    with pytest.raises(ValueError):
        ask_each("Q {item}", ["x"], client=client, recorder=recorder, via="carrier pigeon")


def test_the_table_keeps_the_inputs_index_and_its_name(client, recorder, xai_env):
    import pandas as pd

    frame = pd.DataFrame({"review": ["good", "bad"]},
                         index=pd.Index(["r1", "r2"], name="review_id"))
    job = submit(make_each(client, recorder, frame, template="Label {review}"), schedule=FAST)
    table = job.wait(10)
    assert table.index.name == "review_id" and list(table.index) == ["r1", "r2"]
    again = BatchJob.attach(job.id, client, recorder, schedule=FAST).results()
    assert again.index.name == "review_id" and list(again.index) == ["r1", "r2"]


def test_structured_rows_become_columns(client, recorder, xai_env):
    schema = {"type": "object", "properties": {"label": {"type": "string"}},
              "required": ["label"]}
    frame = submit(make_each(client, recorder, ["p", "q"], schema=schema),
                   schedule=FAST).wait(10)
    assert list(frame.columns[:1]) == ["label"] and frame["error"].isna().all()


# -- faults ----------------------------------------------------------------------------------
def test_per_request_errors_stay_on_their_rows(client, recorder, xai_env):
    batch_state(xai_env).fail = {"row-1"}
    frame = submit(make_each(client, recorder, ["a", "b", "c"]), schedule=FAST).wait(10)
    assert frame["error"][[0, 2]].isna().all()
    assert frame.loc[1, "error"].startswith("xAI could not answer this row")
    assert [e.status for e in recorder.ledger.entries()] == ["ok", "error", "ok"]
    # Running it again sends only the failed row.
    batch_state(xai_env).fail = set()
    job = submit(make_each(client, recorder, ["a", "b", "c"]), schedule=FAST)
    assert [line["custom_id"] for line in uploaded_lines_last(xai_env)] == ["row-1"]
    assert job.wait(10)["error"].isna().all()


def uploaded_lines_last(srv) -> list[dict]:
    data = list(batch_state(srv).files.values())[-1]
    return [json.loads(line) for line in data.decode().splitlines()]


def test_results_while_pending_say_so(client, recorder, xai_env):
    batch_state(xai_env).latency = 0.2
    job = submit(make_each(client, recorder, ["a", "b", "c"]), schedule=FAST)
    with pytest.raises(BatchPendingError) as caught:
        job.results()
    assert "still running" in str(caught.value) and ".wait()" in str(caught.value)
    with pytest.raises(BatchPendingError):
        job.wait(timeout=0.05)
    job.cancel()


def test_cancelled_by_xai_and_expired_keep_what_was_answered(client, recorder, xai_env):
    batch_state(xai_env).cancel_by_xai_after = 2
    job = submit(make_each(client, recorder, list("abcde")), schedule=FAST)
    frame = job.wait(10)
    assert job.last.state == "cancelled" and "Cancelled by xAI" in job.last.cancel_by_xai_message
    assert frame["error"][:2].isna().all()
    assert (frame["error"][2:] == "cancelled before it was answered").all()
    from grok_magic.notebook.batch_view import job_line

    assert "xAI cancelled it: Cancelled by xAI" in job_line(job)
    state = batch_state(xai_env)
    state.cancel_by_xai_after, state.expire_after = None, 1
    job = submit(make_each(client, recorder, list("vwxyz")), schedule=FAST)
    frame = job.wait(10)
    assert job.last.state == "expired"
    assert (frame["error"][1:] == "the batch expired before it was answered").all()


def test_cancel(client, recorder, xai_env):
    batch_state(xai_env).latency = 0.1
    job = submit(make_each(client, recorder, [str(i) for i in range(30)]), schedule=FAST)
    time.sleep(0.25)
    status = job.cancel()
    assert status.state == "cancelled" and status.cancelled > 0
    frame = job.wait(5)
    assert frame["error"].notna().sum() == status.cancelled


def test_429_5xx_and_a_lost_network_while_polling_are_retried(client, recorder, xai_env):
    batch_state(xai_env).latency = 0.05
    job = submit(make_each(client, recorder, list("abcd")), schedule=FAST)
    # Two Closes: a kept-alive connection that drops is taken for an idle close and replaced.
    enqueue_batches(xai_env, Fault(429, headers={"Retry-After": "0"}), Fault(503), Close(), Close())
    updates, finished = [], []
    job.watch(lambda j: updates.append(j.error), lambda j, table: finished.append(table))
    wait_until(lambda: finished)
    assert finished[0]["error"].isna().all()
    errors = [type(e).__name__ for e in updates if e is not None]
    assert {"RateLimitError", "ServerError", "APIConnectionError"} <= set(errors)


def test_a_run_larger_than_one_file_becomes_several_batches(client, recorder, xai_env,
                                                             monkeypatch):
    monkeypatch.setattr(batch_api, "MAX_UPLOAD_BYTES", 700)
    items = [f"item number {i}" for i in range(12)]
    job = submit(make_each(client, recorder, items), schedule=FAST)
    uploads = requests_to(xai_env, "/v1/files", "POST")
    assert len(job.parts) == len(uploads) == len(requests_to(xai_env, "/v1/batches", "POST")) > 2
    files = list(batch_state(xai_env).files.values())
    assert all(len(f) <= 700 for f in files)
    ids = [json.loads(line)["custom_id"] for f in files for line in f.decode().splitlines()]
    assert ids == [f"row-{i}" for i in range(12)]  # every item once, in order
    frame = job.wait(10)
    assert [a.split('"')[1] for a in frame["answer"]] == [f"Label item number {i}"
                                                          for i in range(12)]
    # Finished parts are not asked again; only the first part's row keeps the run's index.
    polls = len([r for r in xai_env.requests if r.path.startswith("/v1/batches/batch_")])
    assert job.status().state == "done"
    assert len([r for r in xai_env.requests if r.path.startswith("/v1/batches/batch_")]) == polls
    records = BatchBook(recorder.ledger).parts(job.id)
    assert [r.index == list(range(12)) for r in records] == [
        True] + [False] * (len(records) - 1)
    # Any part's id re-attaches the whole job.
    again = BatchJob.attach(job.parts[-1], client, recorder, schedule=FAST)
    assert again.id == job.id and again.parts == job.parts
    assert again.results()["error"].isna().all()


def test_watching_a_job_of_many_parts_makes_one_status_request_a_look(client, recorder,
                                                                     xai_env, monkeypatch):
    monkeypatch.setattr(batch_api, "MAX_UPLOAD_BYTES", 700)
    batch_state(xai_env).latency = 0.01
    job = submit(make_each(client, recorder, [f"item number {i}" for i in range(12)]),
                 schedule=FAST)
    assert len(job.parts) > 2
    before = len([r for r in xai_env.requests if r.path.startswith("/v1/batches/batch_")
                  and "/results" not in r.path and r.method == "GET"])
    looks, finished = [], []
    job.watch(lambda j: looks.append(1), lambda j, table: finished.append(table))
    wait_until(lambda: finished)
    polls = len([r for r in xai_env.requests if r.path.startswith("/v1/batches/batch_")
                 and "/results" not in r.path and r.method == "GET"]) - before
    assert polls == len(looks)  # one status request a look, whatever the number of parts
    assert finished[0]["error"].isna().all() and len(finished[0]) == 12


def test_an_item_too_large_for_any_file_is_refused_before_uploading(client, recorder, xai_env,
                                                                    monkeypatch):
    monkeypatch.setattr(batch_api, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(BatchTooLargeError) as caught:
        submit(make_each(client, recorder, [str(i) for i in range(20)]))
    assert "alone makes a" in str(caught.value) and "item 0" in str(caught.value)
    assert requests_to(xai_env, "/v1/files") == []


def test_an_upload_rejected_by_the_server_is_one_clear_error(client, recorder, xai_env):
    batch_state(xai_env).max_file_bytes = 300
    with pytest.raises(APIStatusError) as caught:
        submit(make_each(client, recorder, [str(i) for i in range(20)]))
    assert caught.value.status == 413 and "File too large" in str(caught.value)
    assert requests_to(xai_env, "/v1/batches", "POST") == []


@pytest.mark.parametrize("bad, message", [
    ("dup", "is used twice"), ("stream", "cannot stream"), ("url", "is not supported"),
    ("body", "Line 1"),
])
def test_the_stand_in_checks_the_jsonl_strictly(client, xai_env, tmp_path, bad, message):
    good = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}}
    lines = [good, dict(good, custom_id="b")]
    if bad == "dup":
        lines[1]["custom_id"] = "a"
    elif bad == "stream":
        lines[0] = dict(good, body=dict(good["body"], stream=True))
    elif bad == "url":
        lines[0] = dict(good, url="/v1/embeddings")
    else:
        lines[0] = dict(good, body={"model": "grok-4", "messages": "not a list"})
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    api = BatchAPI(client)
    file_id = api.upload(path)
    with pytest.raises(APIStatusError) as caught:
        api.create("bad", file_id)
    assert caught.value.status in (400, 422) and message in str(caught.value)


def test_polling_is_at_most_every_10_s_after_the_first_minute():
    schedule, elapsed, delay, delays = PollSchedule(), 0.0, None, []
    while elapsed < 3600:
        delay = schedule.next(elapsed, delay)
        delays.append((elapsed, delay))
        elapsed += delay
    assert delays[0][1] == 2.0
    assert all(d >= 10 for t, d in delays if t >= 60)
    assert max(d for _, d in delays) == 60
    assert len(delays) < 80  # an hour of waiting costs few requests


# -- the magic and jobs that outlive the kernel ------------------------------------------------
@pytest.fixture
def ip(xai_env, tmp_path, monkeypatch):
    monkeypatch.setenv("GROK_LEDGER", str(tmp_path / "ledger.sqlite"))
    shell_ = magic_shell(batch_schedule=FAST)
    yield shell_
    close_ledger(shell_)


def test_magic_returns_at_once_and_out_becomes_the_table(ip, xai_env):
    batch_state(xai_env).latency = 0.05
    ip.user_ns["reviews"] = ["<b>great</b>", "poor", "fine", "meh"]
    started = time.monotonic()
    out = run(ip, "%%grok --each reviews --batch-api -o labels\nSentiment of {item}")
    assert time.monotonic() - started < 2 and out.error is None
    job = ip.user_ns["_grok_batch"]
    assert ip.user_ns["labels"] is job  # the job until it completes
    assert "pending" in out.plain() and job.id in out.plain()
    assert html_findings(out.html()) == []
    wait_until(lambda: not isinstance(ip.user_ns["labels"], BatchJob))
    table = ip.user_ns["labels"]
    assert table is ip.user_ns["_grok_each"]
    assert "<b>great</b>" in table.loc[0, "answer"] and table["error"].isna().all()


def test_magic_batch_api_needs_each_and_a_key(ip, xai_env, monkeypatch):
    out = run(ip, "%%grok --batch-api\nQ")
    assert out.error is not None and "add --each VAR" in str(out.error)
    monkeypatch.delenv("XAI_API_KEY")
    ip.user_ns["xs"] = [1, 2]
    out = run(ip, "%%grok --each xs --batch-api\nQ {item}")
    assert out.error is not None and "No xAI API key" in str(out.error)
    assert requests_to(xai_env, "/v1/files") == []


def test_a_job_reattaches_in_a_new_kernel(ip, xai_env, tmp_path):
    """Submitted by one process (a kernel that then restarts), finished and read by another."""
    batch_state(xai_env).latency = 1.5
    script = (
        "import json, os\n"
        "from grok_magic import ask_each\n"
        "job = ask_each('Summarise {item}', ['doc one', 'doc two'], via='batch-api')\n"
        "print(json.dumps({'id': job.id}))\n"
    )
    env = dict(os.environ, JPY_SESSION_NAME="reports/nightly.ipynb",
               GROK_LEDGER=str(tmp_path / "ledger.sqlite"))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, cwd=TESTS)
    assert done.returncode == 0, done.stderr
    batch_id = json.loads(done.stdout.strip().splitlines()[-1])["id"]
    listing = run(ip, "%grok batches")
    assert batch_id in listing.plain() and "reports/nightly.ipynb" in listing.shown()
    out = run(ip, f"%grok batch {batch_id}")  # still pending: progress, then the table
    assert out.error is None and f"Batch {batch_id}: pending" in out.plain()
    wait_until(lambda: "_grok_each" in ip.user_ns and ip.user_ns["_grok_each"] is not None
               and len(ip.user_ns["_grok_each"]) == 2, timeout=15)
    table = ip.user_ns["_grok_each"]
    assert [a.split('"')[1] for a in table["answer"]] == ["Summarise doc one",
                                                          "Summarise doc two"]
    # Once done, re-attaching shows the table straight away (no new batch).
    out = run(ip, f"%grok batch {batch_id}")
    assert "2 of 2 answered" in out.plain()
    assert len(requests_to(xai_env, "/v1/batches", "POST")) == 1


def test_batch_with_an_unknown_id(ip):
    out = run(ip, "%grok batch batch_nope")
    assert out.error is not None and "there is no batch 'batch_nope'" in str(out.error)


def test_a_reattached_jobs_summary_gives_the_batchs_own_duration(ip, xai_env, tmp_path):
    """`%grok batch ID` of a finished job: the time from its submission to its end, not how long
    re-attaching took."""
    batch_state(xai_env).latency = 0.6
    script = ("from grok_magic import ask_each\n"
              "print(ask_each('Q {item}', ['a', 'b', 'c'], via='batch-api').id)\n")
    env = dict(os.environ, GROK_LEDGER=str(tmp_path / "ledger.sqlite"))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, cwd=TESTS)
    assert done.returncode == 0, done.stderr
    batch_id = done.stdout.split()[-1]
    ip.user_ns.pop("_grok_each", None)  # (left by an earlier test)
    run(ip, f"%grok batch {batch_id}")  # pending: followed until done
    wait_until(lambda: ip.user_ns.get("_grok_each") is not None, timeout=15)
    out = run(ip, f"%grok batch {batch_id}")
    took = float(re.search(r"3 of 3 answered · (\d+\.\d) s", out.plain()).group(1))
    assert took >= 3 * 0.6  # three answers, one after another, at 0.6 s each


@pytest.mark.timeout(180)
def test_the_job_bar_ends_in_the_output_of_its_own_cell(xai_env):
    """In a real kernel: the job's bar and state are one display, updated until the job ends;
    the final state replaces the widget in that display, and is sent as that cell's output even
    while another cell runs, so the saved notebook says "done", not "pending"."""
    from tests.support.kernel_helpers import LiveKernel

    batch_state(xai_env).latency = 0.3
    kernel = LiveKernel()
    try:
        kernel.run("%load_ext grok_magic\n"
                   "from grok_magic.runs.batch_job import PollSchedule\n"
                   "get_ipython().magics_manager.registry['GrokMagics'].batch_schedule = "
                   "PollSchedule(first=0.1, factor=1.0, floor=0.1, cap=0.1)\n"
                   "xs = ['a', 'b', 'c', 'd']")
        client = kernel.client
        cell = client.execute("%%grok --each xs --batch-api -o labels\nQ {item}")
        first = drain_until_idle(client, cell)
        later = client.execute("import time\n"
                               "while type(labels).__name__ == 'BatchJob': time.sleep(0.05)\n"
                               "time.sleep(0.5)")
        rest = drain_until_idle(client, later)
    finally:
        kernel.close()
    (shown,) = [m for m in first if m["msg_type"] == "display_data"
                and "grok-progress" in m["content"]["data"].get("text/html", "")]
    assert WIDGET_MIME in shown["content"]["data"]
    assert "Batch batch_" in shown["content"]["data"]["text/plain"]
    display_id = shown["content"]["transient"]["display_id"]
    updates = [m for m in rest if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == display_id]
    assert updates and all(m["parent_header"]["msg_id"] == cell for m in updates)
    final = updates[-1]["content"]["data"]
    assert WIDGET_MIME not in final  # the static bar and state, for the saved notebook
    assert "4/4" in final["text/plain"] and ": done · 4 of 4 rows done" in final["text/plain"]
    assert "pending" not in final["text/plain"]
    assert "Finished: the results table is in labels and _grok_each." in final["text/plain"]
    assert "<progress class='grok-progress-bar' value='4' max='4'>" in final["text/html"]
    assert html_findings(final["text/html"]) == []
    # the live bar's count reached the total before it was replaced
    values = [m["content"]["data"]["state"].get("value") for m in first + rest
              if m["msg_type"] == "comm_msg" and "value" in m["content"]["data"].get("state", {})]
    assert 4 in values

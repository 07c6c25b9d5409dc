"""BatchJob: an `--each` run through xAI's Batch API — written as JSONL as it is built, uploaded,
watched on a background thread, its results the same table as `--each`, recorded in the ledger
(so running it again replays) and kept there, so a job outlives the kernel.

>>> job = submit(Each("Label {item}", "photos/*.jpg"))   # doctest: +SKIP
>>> job.wait()                                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grok_magic.batch_api import CHAT_URL, BatchAPI, BatchPendingError, BatchStatus
from grok_magic.batch_book import BatchBook, JobRecord, SentRow
from grok_magic.canonical import canonical_json, canonical_request, question_of, request_hash
from grok_magic.client import GrokClient
from grok_magic.each import Each, result_table, summarise
from grok_magic.each_runner import Progress, Row, fill_row
from grok_magic.errors import AuthenticationError, GrokError, InputError
from grok_magic.ledger import utc_now
from grok_magic.recorder import Recorder
from grok_magic.replay import ReplayStream
from grok_magic.response import Response
from grok_magic.structured import parse_structured


@dataclass(frozen=True)
class PollSchedule:
    """How often a job's state is asked for: quickly at first, then at most once per `floor`
    seconds after the first minute, growing to `cap`; failures back off the same way."""

    first: float = 2.0
    factor: float = 1.5
    floor: float = 10.0
    cap: float = 60.0
    quick_for: float = 60.0

    def next(self, elapsed: float, previous: float | None) -> float:
        delay = self.first if previous is None else min(previous * self.factor, self.cap)
        return max(delay, self.floor) if elapsed >= self.quick_for else delay


REPLAYED = 2  # SentRow.recorded: not sent, its answer was already in the ledger


def _custom_id(position: int) -> str:
    return f"row-{position}"


def submit(each: Each, *, name: str | None = None, out_name: str | None = None,
           cell: int | None = None, schedule: PollSchedule | None = None) -> BatchJob:
    """Send `each`'s items as one batch. Items already answered OK (in the ledger) are not sent
    again; the same run still pending is re-attached rather than submitted twice."""
    recorder, ledger = each.recorder, each.recorder.ledger
    prefilled: dict[int, Row] = {}
    sent: list[SentRow] = []
    replayed: list[SentRow] = []  # answered before: replayed, not sent
    parse = _parser(each.structured, each.validator)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False,
                                     encoding="utf-8") as jsonl:
        path = Path(jsonl.name)
        try:
            for position in range(len(each.items)):
                body = {k: v for k, v in each.body(position).items()
                        if k not in ("stream", "stream_options")}
                canonical = canonical_request(body)
                key = request_hash(canonical)
                entry = ledger.find_answer(key) if ledger is not None else None
                custom_id = _custom_id(position)
                if entry is not None:
                    prefilled[position] = fill_row(Row(), ReplayStream(entry).until_done(), parse)
                    replayed.append(SentRow(custom_id, position, key, canonical_json(canonical),
                                            question_of(canonical), REPLAYED))
                    continue
                jsonl.write(json.dumps({"custom_id": custom_id, "method": "POST", "url": CHAT_URL,
                                        "body": body}, ensure_ascii=False) + "\n")
                sent.append(SentRow(custom_id, position, key, canonical_json(canonical),
                                    question_of(canonical)))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    job_key = hashlib.sha256(" ".join(r.request_hash for r in sent).encode()).hexdigest()
    book = BatchBook(ledger) if ledger is not None and not ledger.readonly else None
    api = BatchAPI(each.client)
    try:
        if not sent:
            record = _record(each, "local-" + job_key[:16], name, out_name, cell, job_key)
            record.status = "done"
            return BatchJob(record, api, None, recorder, prefilled=prefilled, sent=[],
                            parse=parse, schedule=schedule)
        if book is not None:
            running = book.pending_job(job_key)
            if running is not None:
                return BatchJob.attach(running.id, each.client, recorder, schedule=schedule)
        _check_budget(each, recorder)
        file_id = api.upload(path)
        status = api.create(name or f"grok_magic {len(sent)} items", file_id)
    finally:
        path.unlink(missing_ok=True)
    record = _record(each, status.id, name, out_name, cell, job_key, file_id)
    if book is not None:
        book.add(record, [*sent, *replayed])
    job = BatchJob(record, api, book, recorder, prefilled=prefilled, sent=sent, parse=parse,
                   schedule=schedule)
    job.last = status
    return job


def _record(each: Each, batch_id: str, name, out_name, cell, job_key, file_id=None) -> JobRecord:
    recorder = each.recorder
    return JobRecord(
        id=batch_id, name=name, created=utc_now(), session=recorder.session,
        notebook=recorder.notebook, cell=cell, model=each.model, endpoint=CHAT_URL,
        count=len(each.items), job_key=job_key, row_index=json.dumps(each.items.index,
                                                                      default=str),
        structured=int(each.structured), out_name=out_name, status="pending",
        input_file_id=file_id, upload_bytes=None)


def _check_budget(each: Each, recorder: Recorder) -> None:
    limits = recorder.limits()
    if limits:
        from grok_magic.budget import check

        plan = each.plan()
        check(limits, plan.low, f"a batch of {plan.count:,} requests")


def _parser(structured: bool, validator) -> Callable[[Response], object] | None:
    return (lambda r: parse_structured(r, validator)) if structured else None


class BatchJob:
    """A submitted Batch API run: `.status()`, `.wait(timeout)`, `.results()` (the same table
    as `--each`, rows aligned by custom_id; failed rows carry their error), `.cancel()`."""

    def __init__(self, record: JobRecord, api: BatchAPI, book: BatchBook | None,
                 recorder: Recorder, *, prefilled: dict[int, Row], sent: list[SentRow],
                 parse=None, schedule: PollSchedule | None = None) -> None:
        self.record, self.api, self.book, self.recorder = record, api, book, recorder
        self.id = record.id
        self.prefilled = prefilled
        self.sent = {r.custom_id: r for r in sent}
        self.parse = parse
        self.schedule = schedule or PollSchedule()
        self.started = time.monotonic()
        self.last: BatchStatus | None = None
        self.rows: dict[str, Row] = {}  # custom_id -> row, as results arrive
        self.error: GrokError | None = None  # why watching stopped, if it did
        self._token: str | None = None  # the page of results to read next
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def attach(cls, batch_id: str, client: GrokClient, recorder: Recorder,
               schedule: PollSchedule | None = None) -> BatchJob:
        """A job from the ledger (after a kernel restart, or on another day)."""
        ledger = recorder.ledger
        book = BatchBook(ledger) if ledger is not None else None
        record = book.job(batch_id) if book is not None else None
        if record is None:
            where = f"the ledger {ledger.path}" if ledger is not None else "the ledger (it is off)"
            raise InputError(f"there is no batch {batch_id!r} in {where}",
                             hint="%grok batches lists the jobs it knows.")
        rows = book.rows(batch_id)
        structured = bool(record.structured)
        parse = _parser(structured, _schema_of(rows) if structured else None)
        sent = [r for r in rows if r.recorded != REPLAYED]
        job = cls(record, BatchAPI(client), book if not ledger.readonly else None, recorder,
                  prefilled={}, sent=sent, parse=parse, schedule=schedule)
        for row in rows:
            if row.recorded == REPLAYED:  # answered before the job: replayed from the ledger
                entry = ledger.find_answer(row.request_hash)
                job.prefilled[row.position] = (
                    fill_row(Row(), ReplayStream(entry).until_done(), parse) if entry is not None
                    else Row(error="answered before this batch, but no longer in the ledger"))
        return job

    # -- reading the job -------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return self.record.count

    def status(self) -> BatchStatus:
        """xAI's state of the job now (one request)."""
        if not self.sent:
            return BatchStatus(self.id, self.record.name, 0, 0, 0, 0, 0)
        status = self.api.status(self.id)
        with self._lock:
            self.last = status
        if self.book is not None:
            self.book.update(self.id, status.state, {"pending": status.pending,
                                                     "success": status.success,
                                                     "error": status.error,
                                                     "cancelled": status.cancelled})
        return status

    @property
    def progress(self) -> Progress:
        """Counts so far, from the last status and the results read."""
        last = self.last
        progress = Progress(total=self.total, concurrency=0, started=self.started)
        progress.done = len(self.prefilled) + (last.done if last else 0)
        progress.failed = last.error if last else 0
        progress.replayed = len(self.prefilled)
        with self._lock:
            progress.cost = sum(r.cost or 0.0 for r in self.rows.values())
            progress.tokens = sum((r.prompt_tokens or 0) + (r.completion_tokens or 0)
                                  + (r.reasoning_tokens or 0) for r in self.rows.values())
        return progress

    def fetch(self) -> int:
        """Read the results that arrived since the last call, record them; how many are new."""
        if not self.sent:
            return 0
        new = 0
        for page, token in self.api.results(self.id, token=self._token):
            added = [self._take(result) for result in page]
            new += sum(added)
            with self._lock:
                self._token = token  # the last page is read again: it may have grown
        return new

    def _take(self, result: dict) -> bool:
        custom_id = str(result.get("batch_request_id") or result.get("custom_id") or "")
        sent = self.sent.get(custom_id)
        with self._lock:
            if sent is None or custom_id in self.rows:
                return False
        outcome = result.get("batch_result") or {}
        completion = ((outcome.get("response") or {}).get("chat_get_completion")
                      if isinstance(outcome, dict) else None)
        canonical = json.loads(sent.request)
        if completion:
            response = Response.from_completion(completion, requested_model=canonical.get("model"))
            row = fill_row(Row(), response, self.parse)
            error = None if row.ok else row.error
        else:
            error_body = outcome.get("error") if isinstance(outcome, dict) else None
            message = (error_body or {}).get("message") or result.get("error_message") or "failed"
            code = (error_body or {}).get("code")
            error = f"xAI could not answer this row: {message}" + (f" ({code})" if code else "")
            row, response = Row(error=error), None
        row.seconds = None
        with self._lock:
            self.rows[custom_id] = row
        self.recorder.record_result(canonical, response, error, cell=self.record.cell)
        if self.book is not None:
            self.book.mark_recorded(self.id, [custom_id])
        return True

    def results(self):
        """The results table; raises BatchPendingError while xAI is still working on it."""
        status = self.status() if self.sent else None
        if status is not None and not status.finished:
            raise BatchPendingError(
                f"batch {self.id} is still running: {status.done:,} of {status.requests:,} "
                "requests are done", hint="Call .wait() to wait for it, or look again later "
                "(%grok batch ID re-attaches it after a restart).")
        self.fetch()
        return self.table(status)

    def table(self, status: BatchStatus | None = None):
        rows = [self.prefilled.get(p) or self._row_at(p, status) for p in range(self.total)]
        return result_table_from(self.record.index, rows, bool(self.record.structured))

    def _row_at(self, position: int, status: BatchStatus | None) -> Row:
        row = self.rows.get(_custom_id(position))
        if row is not None:
            return row
        state = status.state if status is not None else "pending"
        why = {"cancelled": "cancelled before it was answered",
               "expired": "the batch expired before it was answered"}.get(state, "no result yet")
        return Row(error=why)

    def summary(self):
        rows = [self.prefilled.get(p) or self._row_at(p, self.last) for p in range(self.total)]
        return summarise(rows, self.progress, None)

    # -- waiting ---------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None):
        """Block until the job is finished (Ctrl-C stops waiting, not the job); the table."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = None
        while True:
            status = self.status() if self.sent else None
            if status is None or status.finished:
                self.fetch()
                return self.table(status)
            delay = self.schedule.next(time.monotonic() - self.started, delay)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise BatchPendingError(
                    f"batch {self.id} is still running after {timeout:g} s: {status.done:,} of "
                    f"{status.requests:,} requests are done", hint="Wait longer, or look later.")
            time.sleep(delay)

    def watch(self, on_update: Callable[[BatchJob], None],
              on_done: Callable[[BatchJob, object], None]) -> threading.Thread:
        """Poll on a background thread (never blocking the kernel); `on_update(job)` after each
        look, `on_done(job, table)` once it is finished. 429s, 5xx and a lost network are
        retried with backoff; a key that stopped working ends the watch (job.error)."""
        def loop() -> None:
            delay: float | None = None
            while not self._stop.is_set():
                try:
                    status = self.status() if self.sent else None
                    if status is None or status.done > len(self.rows):
                        self.fetch()
                    on_update(self)
                    if status is None or status.finished:
                        on_done(self, self.table(status))
                        return
                    self.error = None
                except AuthenticationError as err:
                    self.error = err
                    on_update(self)
                    return
                except GrokError as err:  # rate limited, server trouble, network: try again
                    self.error = err
                    on_update(self)
                delay = self.schedule.next(time.monotonic() - self.started, delay)
                if self._stop.wait(delay):
                    return

        self._thread = threading.Thread(target=loop, name=f"grok-batch-{self.id}", daemon=True)
        self._thread.start()
        return self._thread

    def stop_watching(self) -> None:
        self._stop.set()

    def cancel(self) -> BatchStatus:
        """Ask xAI to cancel the job; rows already answered are kept."""
        status = self.api.cancel(self.id)
        self.last = status
        if self.book is not None:
            self.book.update(self.id, status.state)
        return status

    def __repr__(self) -> str:
        last = self.last
        state = f"{last.state}, {last.done:,} of {last.requests:,} answered" if last else "?"
        return f"<BatchJob {self.id}: {state}; {len(self.prefilled):,} replayed>"


def result_table_from(index: list, rows: list[Row], structured: bool):
    from grok_magic.each_items import Items

    return result_table(Items(list(index), None, "list"), rows, structured)


def _schema_of(rows: list[SentRow]) -> dict | None:
    """The JSON schema a job's requests asked for (the validator, after a restart)."""
    if not rows:
        return None
    request_format = json.loads(rows[0].request).get("response_format") or {}
    schema = (request_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


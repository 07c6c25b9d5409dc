"""BatchJob: a submitted `--each` run at xAI's Batch API (one or more batches, its parts) —
watched on a background thread, its results the same table as `--each`, recorded in the ledger
(so running it again replays) and kept there, so a job outlives the kernel.

>>> job = submit(Each("Label {item}", "photos/*.jpg"))   # doctest: +SKIP
>>> job.wait()                                            # doctest: +SKIP

(`submit` is in grok_magic.runs.batch_submit.)
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from grok_magic.errors import AuthenticationError, GrokError, InputError
from grok_magic.inputs.structured import parse_structured
from grok_magic.ledger.batches import BatchBook, JobRecord, SentRow
from grok_magic.ledger.canonical import Canonical
from grok_magic.ledger.recorder import Recorder
from grok_magic.ledger.replay import ReplayStream
from grok_magic.runs.runner import Progress, Row, fill_row
from grok_magic.runs.table import result_table, summarise
from grok_magic.xai.batch_api import BatchAPI, BatchPendingError, BatchStatus
from grok_magic.xai.client import GrokClient
from grok_magic.xai.response import Response


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


def custom_id_of(position: int) -> str:
    return f"row-{position}"


def parser(structured: bool, validator) -> Callable[[Response], object] | None:
    return (lambda r: parse_structured(r, validator)) if structured else None


class BatchJob:
    """A submitted Batch API run: `.status()`, `.wait(timeout)`, `.results()` (the same table
    as `--each`, rows aligned by custom_id; failed rows carry their error), `.cancel()`.
    Watching and waiting make one status request a look (each pending part in turn)."""

    def __init__(self, records: list[JobRecord], api: BatchAPI, book: BatchBook | None,
                 recorder: Recorder, *, prefilled: dict[int, Row], sent: list[SentRow],
                 parse=None, schedule: PollSchedule | None = None,
                 part_sizes: dict[str, int] | None = None) -> None:
        self.records, self.api, self.book, self.recorder = records, api, book, recorder
        self.record = records[0]  # what every part shares (items, index, OUT, cell)
        self.id = self.record.job_id
        self.parts = [r.id for r in records]
        self.prefilled = prefilled
        self.sent = {r.custom_id: r for r in sent}
        self.parse = parse
        self.schedule = schedule or PollSchedule()
        self.started = time.monotonic()
        self.last: BatchStatus | None = None
        self.rows: dict[str, Row] = {}  # custom_id -> row, as results arrive
        self.error: GrokError | None = None  # why watching stopped, if it did
        self._tokens: dict[str, str | None] = {}  # per part: the page of results to read next
        self.batches = Parts(self.parts, api, book, part_sizes or {})
        self._taken: dict[str, int] = {}  # per part: how many of its results have been read
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def attach(cls, batch_id: str, client: GrokClient, recorder: Recorder,
               schedule: PollSchedule | None = None) -> BatchJob:
        """A job from the ledger (after a kernel restart, or on another day); `batch_id` is
        the job's id or any of its parts'."""
        ledger = recorder.ledger
        book = BatchBook(ledger) if ledger is not None else None
        record = book.job(batch_id) if book is not None else None
        if record is None:
            where = f"the ledger {ledger.path}" if ledger is not None else "the ledger (it is off)"
            raise InputError(f"there is no batch {batch_id!r} in {where}",
                             hint="%grok batches lists the jobs it knows.")
        records = book.parts(record.job_id)
        by_part = {part.id: book.rows(part.id) for part in records}
        rows = [row for part_rows in by_part.values() for row in part_rows]
        structured = bool(record.structured)
        parse = parser(structured, _schema_of(rows) if structured else None)
        sent = [r for r in rows if r.recorded != REPLAYED]
        sizes = {part: sum(r.recorded != REPLAYED for r in part_rows)
                 for part, part_rows in by_part.items()}
        job = cls(records, BatchAPI(client), book if not ledger.readonly else None, recorder,
                  prefilled={}, sent=sent, parse=parse, schedule=schedule, part_sizes=sizes)
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
        """xAI's state of the job now: every part still pending is asked."""
        if self.sent:
            for part in self.batches.pending():
                self.batches.ask(part)
        return self._combined()

    def look(self) -> tuple[BatchStatus, str | None]:
        """One status request — for the next part still pending, in turn — and the job's
        state from what is known; (state, the part asked)."""
        part = self.batches.ask_next() if self.sent else None
        return self._combined(), part

    def _combined(self) -> BatchStatus:
        if not self.sent:
            return BatchStatus(self.id, self.record.name, 0, 0, 0, 0, 0)
        status = self.batches.combined()
        with self._lock:
            self.last = status
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

    def fetch(self, parts: list[str] | None = None) -> int:
        """Read the results that arrived since the last call (of `parts`, else of every part
        with results not yet read) and record them, a page at a time (one ledger transaction
        each); how many are new."""
        new = 0
        if parts is None:
            parts = [p for p in self.parts if self._taken.get(p, 0) < self.batches.done(p)]
        for part in parts if self.sent else ():
            for page, token in self.api.results(part, token=self._tokens.get(part)):
                taken = [t for t in (self._take(result) for result in page) if t is not None]
                self.recorder.record_results([(f"batch:{part}:{i}", c, r, e)
                                              for i, c, r, e in taken],
                                             cell=self.record.cell)
                if self.book is not None and taken:
                    self.book.mark_recorded(part, [custom_id for custom_id, *_ in taken])
                new += len(taken)
                with self._lock:
                    self._taken[part] = self._taken.get(part, 0) + len(taken)
                    self._tokens[part] = token  # the last page is read again: it may grow
        return new

    def _take(self, result: dict) -> tuple | None:
        """A result as (custom_id, canonical request, Response or None, error), or None if it
        is not ours or already read."""
        custom_id = str(result.get("batch_request_id") or result.get("custom_id") or "")
        sent = self.sent.get(custom_id)
        with self._lock:
            if sent is None or custom_id in self.rows:
                return None
        outcome = result.get("batch_result") or {}
        completion = ((outcome.get("response") or {}).get("chat_get_completion")
                      if isinstance(outcome, dict) else None)
        canonical = Canonical(json.loads(sent.request), sent.request, sent.request_hash)
        if completion:
            response = Response.from_completion(completion,
                                                requested_model=canonical.body.get("model"))
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
        return custom_id, canonical, response, error

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
        return result_table_from(self.record.index, rows, bool(self.record.structured),
                                 self.record.index_name)

    def _row_at(self, position: int, status: BatchStatus | None) -> Row:
        row = self.rows.get(custom_id_of(position))
        if row is not None:
            return row
        state = status.state if status is not None else "pending"
        why = {"cancelled": "cancelled before it was answered",
               "expired": "the batch expired before it was answered"}.get(state, "no result yet")
        return Row(error=why)

    def summary(self):
        """How the job went (its `seconds`: the job's own duration, see `job_seconds`)."""
        rows = [self.prefilled.get(p) or self._row_at(p, self.last) for p in range(self.total)]
        return replace(summarise(rows, self.progress, None), seconds=self.seconds)

    @property
    def seconds(self) -> float:
        """The job's duration so far (`job_seconds`), from the ledger's record of its parts."""
        return job_seconds((self.book.parts(self.id) if self.book is not None else None)
                           or self.records)

    # -- waiting ---------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None):
        """Block until the job is finished (Ctrl-C stops waiting, not the job); the table."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = None
        while True:
            status, _ = self.look()
            if not self.sent or status.finished:
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
                    status, part = self.look()  # one status request a look
                    if part is not None and self._taken.get(part, 0) < self.batches.done(part):
                        self.fetch([part])
                    on_update(self)
                    if not self.sent or status.finished:
                        self.fetch()
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

        # The caller's context goes along: in a kernel, what the callbacks display still belongs
        # to the cell that started the watch (not to whichever cell runs when the job ends).
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(loop,),
                                        name=f"grok-batch-{self.id}", daemon=True)
        self._thread.start()
        return self._thread

    def stop_watching(self) -> None:
        self._stop.set()

    def cancel(self) -> BatchStatus:
        """Ask xAI to cancel the job (every part); rows already answered are kept."""
        self.batches.learn([self.api.cancel(part) for part in self.parts])
        return self._combined()

    def __repr__(self) -> str:
        last = self.last
        state = f"{last.state}, {last.done:,} of {last.requests:,} answered" if last else "?"
        parts = f", {len(self.parts)} batches" if len(self.parts) > 1 else ""
        return f"<BatchJob {self.id}: {state}; {len(self.prefilled):,} replayed{parts}>"


class Parts:
    """A job's batches and what xAI last said of each (until asked: pending, with its size);
    the pending ones are asked in turn, one request a look."""

    def __init__(self, ids: list[str], api: BatchAPI, book: BatchBook | None,
                 sizes: dict[str, int]) -> None:
        self.ids, self.api, self.book = ids, api, book
        self.known = {part: BatchStatus(part, None, size, size, 0, 0, 0)
                      for part, size in sizes.items()}
        self._turn = 0

    def pending(self) -> list[str]:
        return [p for p in self.ids if p not in self.known or not self.known[p].finished]

    def done(self, part: str) -> int:
        known = self.known.get(part)
        return known.done if known is not None else 1  # not yet asked: look at its results

    def ask(self, part: str) -> BatchStatus:
        status = self.api.status(part)
        self.learn([status])
        return status

    def ask_next(self) -> str | None:
        """Ask the next pending part; which one (None when none is pending)."""
        pending = self.pending()
        if not pending:
            return None
        part = pending[self._turn % len(pending)]
        self._turn += 1
        self.ask(part)
        return part

    def learn(self, statuses: list[BatchStatus]) -> None:
        """What xAI said of some parts (a status, a creation, a cancellation), kept and noted
        in the ledger."""
        for status in statuses:
            self.known[status.id] = status
            if self.book is not None:
                self.book.update(status.id, status.state, {
                    "pending": status.pending, "success": status.success,
                    "error": status.error, "cancelled": status.cancelled})

    def combined(self) -> BatchStatus:
        return BatchStatus.combine([self.known[p] for p in self.ids if p in self.known])


def job_seconds(records: list[JobRecord]) -> float:
    """How long a job (its parts' `records`, as the ledger keeps them) took: from its first
    part's submission until its last part was first seen finished, or until now while any runs."""
    def moment(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    ends = [r.finished for r in records]
    end = max(moment(e) for e in ends) if records and all(ends) else time.time()
    return max(end - moment(records[0].created), 0.0) if records else 0.0


def result_table_from(index: list, rows: list[Row], structured: bool, name=None):
    from grok_magic.runs.items import Items

    return result_table(Items(list(index), None, "list"), rows, structured, name)


def _schema_of(rows: list[SentRow]) -> dict | None:
    """The JSON schema a job's requests asked for (the validator, after a restart)."""
    if not rows:
        return None
    request_format = json.loads(rows[0].request).get("response_format") or {}
    schema = (request_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


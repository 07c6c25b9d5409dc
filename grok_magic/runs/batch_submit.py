"""Submitting an `--each` run to xAI's Batch API: each item's request written as a JSONL line as
it is built (never all in memory), a new file begun whenever one would outgrow the upload limit,
every file uploaded and queued as one batch — the parts of one job, kept in the ledger."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grok_magic.errors import GrokError
from grok_magic.ledger.batches import BatchBook, JobRecord, SentRow
from grok_magic.ledger.canonical import Canonical, question_of
from grok_magic.ledger.recorder import Recorder
from grok_magic.ledger.replay import ReplayStream
from grok_magic.ledger.store import utc_now
from grok_magic.runs.batch_job import REPLAYED, BatchJob, PollSchedule, custom_id_of, parser
from grok_magic.runs.each import Each
from grok_magic.runs.runner import Row, fill_row
from grok_magic.runs.table import index_name_of
from grok_magic.xai import batch_api
from grok_magic.xai.batch_api import LINE_URLS, BatchAPI, BatchStatus, BatchTooLargeError, line_url
from grok_magic.xai.transport import refuse_key_in


@dataclass
class Part:
    """One JSONL file of a job: its path, the rows in it, its size so far."""

    path: Path
    rows: list[SentRow] = field(default_factory=list)
    size: int = 0


def submit(each: Each, *, name: str | None = None, out_name: str | None = None,
           cell: int | None = None, schedule: PollSchedule | None = None) -> BatchJob:
    """Send `each`'s items as a batch job (several batches when the JSONL outgrows one file).
    Items already answered OK (in the ledger) are replayed, not sent; the same run still
    pending is re-attached rather than submitted twice."""
    recorder, ledger = each.recorder, each.recorder.ledger
    parse = parser(each.structured, each.validator)
    prefilled: dict[int, Row] = {}
    replayed: list[SentRow] = []
    parts = _write_parts(each, prefilled, replayed, parse)
    try:
        sent = [row for part in parts for row in part.rows]
        job_key = hashlib.sha256(" ".join(r.request_hash for r in sent).encode()).hexdigest()
        book = BatchBook(ledger) if ledger is not None and not ledger.readonly else None
        api = BatchAPI(each.client)
        if not sent:
            return _replayed_job(each, api, book, replayed, prefilled, parse, schedule, name,
                                 out_name, cell)
        if book is not None:
            running = book.pending_job(job_key)
            if running is not None:
                return BatchJob.attach(running.job_id, each.client, recorder, schedule=schedule)
        _check_budget(each, recorder)
        file_ids = [api.upload(part.path) for part in parts]
        records, statuses = _create(each, api, parts, file_ids, name, out_name, cell, job_key)
    finally:
        for part in parts:
            part.path.unlink(missing_ok=True)
    if book is not None:
        for index, (record, part) in enumerate(zip(records, parts, strict=False)):
            book.add(record, [*part.rows, *(replayed if index == 0 else [])])
    job = BatchJob(records, api, book, recorder, prefilled=prefilled, sent=sent, parse=parse,
                   schedule=schedule,
                   part_sizes={r.id: len(p.rows) for r, p in zip(records, parts, strict=True)})
    job.batches.learn(statuses)
    job.last = BatchStatus.combine(statuses)
    return job


def _replayed_job(each, api, book, replayed, prefilled, parse, schedule, name, out_name,
                  cell) -> BatchJob:
    """A run whose every row was answered before: nothing is sent, but the job is kept in the
    ledger like any other (done, its rows replayed), so `%grok batch ID` finds it. Its id comes
    from every row's request, so the same run replayed again is the same job, kept once."""
    job_key = hashlib.sha256(" ".join(r.request_hash for r in replayed).encode()).hexdigest()
    job_id = "local-" + job_key[:16]
    record = _record(each, job_id, job_id, name, out_name, cell, job_key)
    record.status, record.finished = "done", record.created
    if book is not None and book.job(job_id) is None:
        book.add(record, replayed)
    return BatchJob([record], api, None, each.recorder, prefilled=prefilled, sent=[],
                    parse=parse, schedule=schedule)


def _write_parts(each: Each, prefilled: dict, replayed: list, parse) -> list[Part]:
    limit = batch_api.MAX_UPLOAD_BYTES
    ledger = each.recorder.ledger
    parts: list[Part] = []
    handle = None
    try:
        for position in range(len(each.items)):
            body = {k: v for k, v in each.body(position).items()
                    if k not in ("stream", "stream_options")}
            refuse_key_in(body)  # a batch line is sent as a file, not through the client's check
            canonical = Canonical.of(body)
            key, text, question = canonical.hash, canonical.text, question_of(canonical.body)
            custom_id = custom_id_of(position)
            entry = ledger.find_answer(key) if ledger is not None else None
            if entry is not None:
                prefilled[position] = fill_row(Row(), ReplayStream(entry).until_done(), parse)
                replayed.append(SentRow(custom_id, position, key, text, question, REPLAYED))
                continue
            line = (json.dumps({"custom_id": custom_id, "method": "POST",
                                "url": line_url(body), "body": body},
                               ensure_ascii=False) + "\n").encode()
            if len(line) > limit:
                raise BatchTooLargeError(
                    f"item {each.items.index[position]!r} alone makes a {len(line) / 2**20:,.1f} "
                    f"MiB request, over the {limit / 2**20:,.0f} MiB a batch file may hold",
                    hint="Make it smaller (fewer or smaller images: GrokMagics.max_image_side).")
            if not parts or parts[-1].size + len(line) > limit:
                if handle is not None:
                    handle.close()
                # mkstemp's 0600 (owner only): the file holds every prompt of the run.
                handle = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)  # noqa: SIM115
                parts.append(Part(Path(handle.name)))
            handle.write(line)
            parts[-1].size += len(line)
            parts[-1].rows.append(SentRow(custom_id, position, key, text, question))
    except BaseException:
        for part in parts:
            part.path.unlink(missing_ok=True)
        raise
    finally:
        if handle is not None:
            handle.close()
    return parts


def _create(each, api, parts, file_ids, name, out_name, cell, job_key):
    """One batch per part; a failure after some were created says which are queued."""
    records, statuses = [], []
    label = name or f"grok_magic {sum(len(p.rows) for p in parts):,} items"
    for index, (part, file_id) in enumerate(zip(parts, file_ids, strict=True)):
        suffix = f" (part {index + 1} of {len(parts)})" if len(parts) > 1 else ""
        try:
            status = api.create(label + suffix, file_id)
        except GrokError as err:
            if records:
                err.message += (f" (parts 1–{index} of {len(parts)} are queued as job "
                                f"{records[0].id}; the rest were not sent)")
            raise
        job_id = records[0].id if records else status.id
        record = _record(each, status.id, job_id, label + suffix, out_name, cell, job_key,
                         file_id, part.size)
        if records:
            record.row_index = "{}"  # the run's index is kept once, with the first part
        records.append(record)
        statuses.append(status)
    return records, statuses


def _record(each: Each, batch_id: str, job_id: str, name, out_name, cell, job_key,
            file_id=None, size=None) -> JobRecord:
    recorder = each.recorder
    return JobRecord(
        id=batch_id, job_id=job_id, name=name, created=utc_now(), session=recorder.session,
        notebook=recorder.notebook, cell=cell, model=each.model,
        endpoint=LINE_URLS[each.api],
        count=len(each.items), job_key=job_key,
        row_index=json.dumps({"name": index_name_of(each.items), "values": each.items.index},
                             default=str), structured=int(each.structured),
        out_name=out_name, status="pending", input_file_id=file_id, upload_bytes=size)


def _check_budget(each: Each, recorder: Recorder) -> None:
    limits = recorder.limits()
    if limits:
        from grok_magic.ledger.budget import check

        plan = each.plan()
        check(limits, plan.low, f"a batch of {plan.count:,} requests")

"""Front: `%%grok --each VAR --batch-api` — the job submitted, a live job widget fed by the job's
background watcher, OUT replaced by the results table when it completes; `%grok batches` and
`%grok batch ID` (re-attach after a restart)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from IPython.display import display

from grok_magic.notebook.cells import running_cell
from grok_magic.notebook.display import Report, cell, plain_twin
from grok_magic.notebook.progress import ProgressBar
from grok_magic.notebook.reports import local_time, table
from grok_magic.notebook.run_report import RESULT_NAME, EachReport
from grok_magic.runs.batch_job import BatchJob
from grok_magic.runs.batch_submit import submit
from grok_magic.xai.pricing import format_cost

if TYPE_CHECKING:
    from grok_magic.notebook.options import GrokOptions
    from grok_magic.runs.each import Each

JOB_NAME = "_grok_batch"


def job_line(job: BatchJob) -> str:
    """Where a job is, in one line of our own (numbers and ids only)."""
    last, progress = job.last, job.progress
    elapsed = job.seconds  # since it was submitted (in this kernel or an earlier one)
    if last is None and job.sent:
        return f"Batch {job.id}: submitted, waiting for xAI's first word."
    state = last.state if last else "done"
    parts = [f"Batch {job.id}: {state}", f"{progress.done:,} of {job.total:,} rows done"]
    if progress.replayed:
        parts.append(f"{progress.replayed:,} from the ledger")
    if last and last.error:
        parts.append(f"{last.error:,} failed")
    pending = state == "pending"
    parts.append(f"{_duration(elapsed)} elapsed" if pending else f"took {_duration(elapsed)}")
    if pending:
        sent_done = last.done if last else 0
        if sent_done:
            left = elapsed / sent_done * (last.requests - sent_done)
            finish = datetime.now() + timedelta(seconds=left)
            parts.append(f"expected finish ~{finish:%H:%M}")
        else:
            parts.append("xAI answers within 24 h")
    parts.append(f"cost so far {format_cost(progress.cost)}" if pending else
                 f"cost {format_cost(progress.cost)}")
    line = " · ".join(parts)
    if job.error is not None:
        line += f" — last check failed ({job.error.title}); retrying"
    if last and last.cancel_by_xai_message:
        line += f" — xAI cancelled it: {last.cancel_by_xai_message}"
    return line


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else \
        f"{secs}s"


class JobView:
    """A job's live progress: the `--each` bar (`ProgressBar`) with the job's state under it,
    updated by the job's watcher until it ends, when the final state is written into the output;
    in a terminal, lines printed at the start and the end."""

    def __init__(self, job: BatchJob, terminal: bool, out_name: str | None) -> None:
        self.job, self.terminal, self.out_name = job, terminal, out_name
        self.text = job_line(job)
        self.bar = None if terminal else ProgressBar(job.total, False, desc="grok batch",
                                                     line=self.text)
        if self.bar is not None:
            self.bar.update(job.progress)

    def update(self, job: BatchJob) -> None:
        self.text = job_line(job)
        if self.bar is not None:
            self.bar.update(job.progress, self.text)

    def done(self, job: BatchJob, result) -> None:
        self.text = job_line(job)
        where = f"{self.out_name} and {RESULT_NAME}" if self.out_name else RESULT_NAME
        note = f"Finished: the results table is in {where}."
        if self.bar is not None:
            self.bar.update(job.progress)
            self.bar.close(f"{self.text} — {note}")
        else:
            print(plain_twin(f"{self.text}\n{note}"))


def run_batch(magics: GrokOptions, args, each: Each):
    """Submit, show the job widget, watch in the background; OUT holds the job until done."""
    job = submit(each, out_name=args.out, cell=running_cell(magics.shell),
                 schedule=magics.batch_schedule)
    follow(magics, job, args.out)
    return None


def follow(magics: GrokOptions, job: BatchJob, out_name: str | None) -> JobView:
    namespace = magics.user_ns
    namespace[JOB_NAME] = job
    if out_name:
        namespace[out_name] = job
    view = JobView(job, magics.terminal, out_name)

    def finished(job_: BatchJob, result) -> None:
        namespace[RESULT_NAME] = result
        if out_name and namespace.get(out_name) is job_:
            namespace[out_name] = result
        view.done(job_, result)

    if magics.terminal:
        print(view.text)
    job.watch(view.update, finished)
    return view


def batches(magics: GrokOptions, rest: str):
    """`%grok batches`: the jobs the ledger knows, newest first."""
    from grok_magic.ledger.batches import BatchBook

    ledger = magics.recorder.ledger
    if ledger is None:
        print("The ledger is off, so no batch jobs are kept.")
        return None
    jobs = BatchBook(ledger).jobs()
    if not jobs:
        message = f"No batch jobs in the ledger {ledger.path} yet."
        return display(Report(f"*{cell(message)}*", message))
    rows = [(j.id, local_time(j.created), f"{j.count:,}", j.status, j.model or "?",
             j.notebook or "", j.name or "") for j in jobs]
    plain = [f"{r[0]}  {r[1]}  {r[2]} rows  {r[3]}  {r[4]}" for r in rows]
    markdown = table(("batch", "created", "rows", "state", "model", "notebook", "name"), rows)
    return display(Report(markdown + "\n\n`%grok batch ID` re-attaches one.",
                          "\n".join(plain)))


def batch(magics: GrokOptions, rest: str):
    """`%grok batch ID`: re-attach a job — live progress while pending, the table when done."""
    from IPython.core.error import UsageError

    words = rest.split()
    if len(words) != 1:
        raise UsageError("%grok batch takes one batch id (%grok batches lists them).")
    job = BatchJob.attach(words[0], magics.client(), magics.recorder,
                          schedule=magics.batch_schedule)
    status = job.status()
    if not status.finished:
        follow(magics, job, job.record.out_name)
        return None
    result = job.results()
    magics.user_ns[RESULT_NAME] = result
    magics.user_ns[JOB_NAME] = job
    if job.record.out_name:
        magics.user_ns[job.record.out_name] = result
    display(EachReport(job.summary(), result, job.record.out_name))
    return None


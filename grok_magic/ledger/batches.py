"""The ledger's record of Batch API jobs (schema 2): each job's id, notebook, items and the
request of every row sent, so a job can be re-attached after a kernel restart or on another day."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from grok_magic.ledger.store import Ledger, utc_now


@dataclass
class JobRecord:
    """One Batch API job as the ledger keeps it."""

    id: str
    job_id: str
    name: str | None
    created: str
    session: str | None
    notebook: str | None
    cell: int | None
    model: str | None
    endpoint: str
    count: int
    job_key: str
    row_index: str
    structured: int
    out_name: str | None
    status: str
    state: str | None = None
    finished: str | None = None
    input_file_id: str | None = None
    upload_bytes: int | None = None

    @property
    def index(self) -> list:
        """The run's index (kept with the job's first part)."""
        return json.loads(self.row_index).get("values", [])

    @property
    def index_name(self):
        return json.loads(self.row_index).get("name")


@dataclass(frozen=True)
class SentRow:
    """A row sent in a job: which item, and its canonical request."""

    custom_id: str
    position: int
    request_hash: str
    request: str
    question: str | None
    recorded: int = 0


JOB_COLUMNS = tuple(f.name for f in fields(JobRecord))
ROW_COLUMNS = tuple(f.name for f in fields(SentRow))


class BatchBook:
    """Jobs and their rows in a ledger (every call is safe: a ledger that cannot be used
    warns once and the job goes on in memory)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def add(self, job: JobRecord, rows: Iterable[SentRow]) -> None:
        rows = [tuple(getattr(r, c) for c in ROW_COLUMNS) for r in rows]
        values = tuple(getattr(job, c) for c in JOB_COLUMNS)

        def write(conn) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"INSERT INTO batches ({', '.join(JOB_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(JOB_COLUMNS))})", values)
                conn.executemany(f"INSERT INTO batch_rows (batch_id, {', '.join(ROW_COLUMNS)}) "
                                 f"VALUES (?, {', '.join('?' * len(ROW_COLUMNS))})",
                                 [(job.id, *row) for row in rows])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self.ledger.safely("write to", write, None)

    def job(self, batch_id: str) -> JobRecord | None:
        found = self._jobs("WHERE id = ?", (batch_id,))
        return found[0] if found else None

    def parts(self, job_id: str) -> list[JobRecord]:
        """Every batch of a job, in the order they were created."""
        return self._jobs("WHERE job_id = ?", (job_id,), "ORDER BY rowid")

    def pending_job(self, job_key: str) -> JobRecord | None:
        """A job still running for exactly these requests (the same cell run again)."""
        found = self._jobs("WHERE job_key = ? AND status = 'pending'", (job_key,),
                           "ORDER BY created DESC LIMIT 1")
        return found[0] if found else None

    def jobs(self, limit: int = 50) -> list[JobRecord]:
        """The latest jobs (their first parts)."""
        return self._jobs("WHERE id = job_id", (), f"ORDER BY created DESC LIMIT {int(limit)}")

    def _jobs(self, where: str, params: tuple, tail: str = "") -> list[JobRecord]:
        sql = f"SELECT {', '.join(JOB_COLUMNS)} FROM batches {where} {tail}"
        return self.ledger.safely(
            "read", lambda conn: [JobRecord(*row) for row in conn.execute(sql, params)], [])

    def rows(self, batch_id: str) -> list[SentRow]:
        sql = (f"SELECT {', '.join(ROW_COLUMNS)} FROM batch_rows WHERE batch_id = ? "
               "ORDER BY position")
        return self.ledger.safely(
            "read", lambda conn: [SentRow(*row) for row in conn.execute(sql, (batch_id,))], [])

    def update(self, batch_id: str, status: str, state: Mapping | None = None) -> None:
        finished = utc_now() if status != "pending" else None
        sql = ("UPDATE batches SET status = ?, state = coalesce(?, state), "
               "finished = coalesce(finished, ?) WHERE id = ?")
        params = (status, json.dumps(state) if state is not None else None, finished, batch_id)
        self.ledger.safely("write to", lambda conn: conn.execute(sql, params), None)

    def mark_recorded(self, batch_id: str, custom_ids: Iterable[str]) -> None:
        params = [(batch_id, c) for c in custom_ids]
        sql = "UPDATE batch_rows SET recorded = 1 WHERE batch_id = ? AND custom_id = ?"
        self.ledger.safely("write to", lambda conn: conn.executemany(sql, params), None)


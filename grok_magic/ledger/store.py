"""Ledger: every exchange with xAI in one local SQLite file — history, cost, replay, export.

One file, WAL mode (several kernels may write at once), a versioned schema migrated in place
(ledger.schema). `sqlite3` is imported on first use. A ledger never breaks or stalls a cell:
rows are written by a background writer (ledger.writer) that waits out another kernel's lock;
a damaged file is moved aside before anything is written into it (ledger.health); a file that
cannot be written is read and listed, and simply not written to; a ledger that cannot be used at
all (not a database, full) warns once and the answer is shown unrecorded. Every answer has a
natural key (`answer_key`, unique), so recording it twice adds nothing; and requests in flight
reserve their worst case in the ledger itself (ledger.reservations), seen by every kernel.

The ledger holds every prompt, answer, value sent, traceback and notebook path, so what grok_magic
creates is private: files 0600 (SQLite gives its -wal and -shm files the mode of the database),
folders 0700. A ledger that others can read, left by an older version, is pointed out once with
the command that fixes it; it is not changed behind its owner's back.

>>> ledger = Ledger(Path("lesson.sqlite"))          # doctest: +SKIP
>>> [e.question for e in ledger.entries(model="grok-4.3")]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path

from grok_magic.ledger import reservations
from grok_magic.ledger.file import (
    BUSY_TIMEOUT,
    LedgerFile,
    LedgerWarning,
    is_busy,
    iso,
    transaction,
    utc_now,
)
from grok_magic.ledger.schema import SCHEMA_VERSION, LedgerProblem, migrate
from grok_magic.ledger.writer import Job, LedgerWriter
from grok_magic.private_files import create_private_file, make_private_folder
from grok_magic.xai.pricing import LONG_CONTEXT_TOKENS

__all__ = ["SCHEMA_VERSION", "Entry", "Ledger", "LedgerProblem", "LedgerWarning", "ModelTotal", "iso",
           "utc_now"]

RESERVE_TIMEOUT = 1.0  # seconds a budget check waits for the lock to reserve its request's cost
READ_WAIT = 0.5  # seconds a read waits for this kernel's queued rows to be written
CLOSE_WAIT = 2.0  # seconds closing waits for them


@dataclass
class Entry:
    """One exchange as the ledger keeps it."""

    time: str
    session: str
    source: str
    request_hash: str
    request: str
    status: str
    api: str = "chat"
    endpoint: str = "/chat/completions"
    notebook: str | None = None
    cell: int | None = None
    model_asked: str | None = None
    model_served: str | None = None
    question: str | None = None
    answer: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    image_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = None
    response_id: str | None = None
    request_id: str | None = None
    first_token_s: float | None = None
    total_s: float | None = None
    error: str | None = None
    citations: str | None = None
    tool_calls: str | None = None
    answer_key: str | None = None  # unique: batch:<batch id>:<custom_id>, live:<uuid>
    cost_exact: int = 1  # 0: cost and tokens are an estimate (the answer ended without usage)
    media: str | None = None  # JSON: what Imagine made, by hash (ledger.media keeps the bytes)
    id: int | None = None

    @property
    def usage_fields(self) -> dict:
        return json.loads(self.usage) if self.usage else {}

    @property
    def media_items(self) -> list[dict]:
        """What Imagine made for this exchange (kind, sha256, media_type, …), in order."""
        try:
            items = json.loads(self.media) if self.media else []
        except ValueError:
            return []
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


COLUMNS = tuple(f.name for f in fields(Entry) if f.name != "id")
# What a column added by a later schema step reads as in an older (read-only) ledger.
LATER_COLUMNS = {"answer_key": "NULL", "cost_exact": "1", "media": "NULL"}
ENDED = ("stopped", "incomplete")


@dataclass(frozen=True)
class ModelTotal:
    """What one model answered and cost over a period: answers (complete), failures (errors) and
    stops (stopped or cut off: billed, often estimated) counted apart."""

    model: str
    answers: int
    failures: int
    stops: int
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cost: float
    estimated: int  # rows whose cost is an estimate
    cached_tokens: int = 0  # prompt tokens served from xAI's cache
    long_cached_tokens: int = 0  # of those, the ones in prompts billed at the long-context rate

    def cache_saving(self, price) -> float | None:
        """USD caching saved (a `pricing.Price`'s estimate, at the tier each prompt was billed
        at), or None without a price."""
        if price is None:
            return None
        short, long = price.tier(0), price.tier(LONG_CONTEXT_TOKENS)
        return ((self.cached_tokens - self.long_cached_tokens)
                * max(short.input - short.cached_input, 0.0)
                + self.long_cached_tokens * max(long.input - long.cached_input, 0.0)) / 1_000_000


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """Start of "today" (local midnight), "week" (the last 7 days) or "all" (None)."""
    now = (now or datetime.now()).astimezone()
    if period == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return now - timedelta(days=7)
    if period == "all":
        return None
    raise ValueError(f"unknown period {period!r}: use today, week or all")


class Ledger(LedgerFile):
    """The exchanges in one ledger file: recorded once each (through a background writer),
    listed, totalled, exported; and the money reserved by requests in flight."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False,
                 notify: Callable[[str], None] | None = None,
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
        super().__init__(path, readonly=readonly, notify=notify, busy_timeout=busy_timeout)
        self.writer = LedgerWriter(self._write, is_busy=is_busy,
                                   on_error=lambda err: self.trouble("write to", err),
                                   on_waiting=self._waiting)

    def before_closing(self) -> None:
        self.writer.drain(CLOSE_WAIT)

    def _waiting(self, rows: int) -> None:
        self.say(f"The ledger {self.path} is locked by another program, so {rows} answer(s) "
                  "are waiting to be written to it; they will be written as soon as it frees "
                  "(nothing is lost, and they already count toward budgets). This is said once.")

    # -- writing -------------------------------------------------------------------------------
    def record(self, entry: Entry, settles: tuple = ()) -> int | None:
        """Add one exchange (and settle the reservations it ends); its row id, or None if it
        is not written (yet: a row waiting for the lock is written later; or ever)."""
        if not self.can_write():
            return None
        self.writer.put(Job([entry], settles))
        return entry.id

    def record_many(self, entries: list[Entry]) -> int:
        """Add many exchanges in one transaction; how many were added (an answer already in the
        ledger, by its `answer_key`, is not added again)."""
        if not entries or not self.can_write():
            return 0
        return self.writer.put(Job(list(entries)), wait=10.0).written

    def release(self, keys: tuple) -> None:
        """Let go of reservations whose request ended without an answer to record."""
        if keys and self.can_write():
            self.writer.put(Job([], tuple(keys)), wait=0.0)

    def _write(self, job: Job) -> int:
        sql = (f"INSERT OR IGNORE INTO exchanges ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(COLUMNS))})")

        def write(conn) -> int:
            added = 0
            with transaction(conn):
                for entry in job.rows:
                    cursor = conn.execute(sql, [getattr(entry, c) for c in COLUMNS])
                    if cursor.rowcount:
                        entry.id, added = cursor.lastrowid, added + 1
                if job.settles:
                    reservations.settle(conn, job.settles)
            return added

        with self.using() as conn:  # errors go to the writer: busy is retried, others said
            return write(conn)

    # -- reservations --------------------------------------------------------------------------
    def reserve(self, session: str, amount: float, seconds: float, since: datetime | None,
                decide: Callable[[float, float], None]) -> str | None:
        """In one transaction: `decide(spent since `since`, reserved by every kernel)`, which
        raises to refuse (or to wait), then `amount` USD reserved for `seconds`; the
        reservation's key. None if the ledger cannot take it (the caller reserves in memory)."""
        if not self.can_write():
            return None

        import sqlite3

        try:
            with self.using() as conn, transaction(conn, RESERVE_TIMEOUT, self.busy_timeout):
                reservations.prune(conn)
                decide(self._spent(conn, since), reservations.held(conn))
                return reservations.add(conn, session, amount, seconds)
        except (sqlite3.Error, OSError, LedgerProblem) as err:
            if not is_busy(err):  # held by another program: this kernel's own holds only
                self.trouble("reserve budget in", err)
            return None

    def longest_answer(self, model: str) -> int | None:
        """The most completion (and reasoning) tokens among `model`'s recent complete answers."""
        sql = ("SELECT max(completion_tokens + reasoning_tokens) FROM (SELECT completion_tokens, "
               "reasoning_tokens FROM exchanges WHERE model_asked = ? AND status = 'ok' "
               "ORDER BY id DESC LIMIT 50)")
        return self.safely("read", lambda conn: conn.execute(sql, (model,)).fetchone()[0], None)

    # -- reading -------------------------------------------------------------------------------
    def _settled(self) -> None:
        """Reads see this kernel's own answers: wait (briefly) for queued rows to be written."""
        if self.writer.pending():
            self.writer.drain(READ_WAIT)

    def _select(self, where: str = "", params: tuple = (), tail: str = "") -> list[Entry]:
        self._settled()

        def read(conn) -> list[Entry]:
            names = [c if c in self.columns else f"{LATER_COLUMNS[c]} AS {c}" for c in COLUMNS]
            sql = f"SELECT id, {', '.join(names)} FROM exchanges {where} {tail}"
            return [Entry(**dict(zip(("id", *COLUMNS), row, strict=True)))
                    for row in conn.execute(sql, params)]

        return self.safely("read", read, [])

    def find_answer(self, request_hash: str) -> Entry | None:
        """The latest complete answer to the request with this canonical hash."""
        found = self._select("WHERE request_hash = ? AND status = 'ok'", (request_hash,),
                             "ORDER BY id DESC LIMIT 1")
        return found[0] if found else None

    def keyed(self, answer_key: str) -> Entry | None:
        """The row recorded under this natural key (a video job's); None in an old ledger."""
        self.safely("read", lambda conn: None, None)  # connected: its columns are known
        found = "answer_key" in self.columns and self._select("WHERE answer_key = ?", (answer_key,))
        return found[0] if found else None

    def known_keys(self, keys: list[str]) -> set[str]:
        """Which of these answer keys are in the ledger already."""
        self._settled()

        def read(conn) -> set[str]:
            if "answer_key" not in self.columns:
                return set()
            found: set[str] = set()
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                sql = (f"SELECT answer_key FROM exchanges WHERE answer_key IN "
                       f"({', '.join('?' * len(chunk))})")
                found.update(row[0] for row in conn.execute(sql, chunk))
            return found

        return self.safely("read", read, set())

    def entries(
        self, *, since: datetime | str | None = None, model: str | None = None,
        session: str | None = None, notebook: str | None = None, status: str | None = None,
        limit: int | None = None, request_hash: str | None = None,
    ) -> list[Entry]:
        """Exchanges, oldest first; `limit` keeps the most recent ones. `model` matches the
        model asked for or the one that answered; `request_hash` one canonical request."""
        where, params = _filters(since=since, model=model, session=session, notebook=notebook,
                                 status=status, request_hash=request_hash)
        if limit is None:
            return self._select(where, params, "ORDER BY id")
        latest = self._select(where, params, f"ORDER BY id DESC LIMIT {int(limit)}")
        return latest[::-1]

    def last(self, n: int = 10) -> list[Entry]:
        return self.entries(limit=n)

    def entry(self, number: int) -> Entry | None:
        """One exchange by its number (its `id`, the `#` that `%grok log` shows)."""
        found = self._select("WHERE id = ?", (int(number),))
        return found[0] if found else None

    def totals(self, since: datetime | str | None = None) -> list[ModelTotal]:
        """Answers, failures, stops, tokens and cost per model since `since` (all time if None)."""
        self._settled()
        where, params = _filters(since=since)

        def read(conn) -> list[ModelTotal]:
            exact = "cost_exact" if "cost_exact" in self.columns else "1"
            sql = ("SELECT coalesce(model_served, model_asked, '?'), "
                   "sum(status = 'ok'), sum(status = 'error'), "
                   f"sum(status IN {ENDED}), sum(prompt_tokens), sum(completion_tokens), "
                   f"sum(reasoning_tokens), coalesce(sum(cost), 0), "
                   f"sum({exact} = 0 AND cost IS NOT NULL), coalesce(sum(cached_tokens), 0), "
                   f"coalesce(sum(CASE WHEN prompt_tokens >= {LONG_CONTEXT_TOKENS} "
                   "THEN cached_tokens ELSE 0 END), 0) "
                   f"FROM exchanges {where} GROUP BY 1 ORDER BY 8 DESC, 1")
            return [ModelTotal(*row) for row in conn.execute(sql, params)]

        return self.safely("read", read, [])

    def _spent(self, conn, since: datetime | str | None) -> float:
        where, params = _filters(since=since)
        written = conn.execute(f"SELECT coalesce(sum(cost), 0) FROM exchanges {where}",
                               params).fetchone()[0]
        start = None if since is None else iso(since) if isinstance(since, datetime) else since
        waiting = sum(e.cost or 0.0 for e in self.writer.pending()
                      if start is None or e.time >= start)
        return written + waiting

    def spent(self, since: datetime | str | None = None) -> float:
        """USD spent since `since`, every kernel together (estimates included, and this
        kernel's answers still waiting to be written)."""
        return self.safely("read", lambda conn: self._spent(conn, since), 0.0)

    def reserved(self) -> float:
        """USD reserved right now by requests in flight, every kernel."""
        return self.safely("read", lambda conn: reservations.held(conn) if self.writable else 0.0,
                           0.0)

    def count(self) -> int:
        self._settled()
        return self.safely(
            "read", lambda conn: conn.execute("SELECT count(*) FROM exchanges").fetchone()[0], 0)

    def to_dataframe(self, **filters):
        """`entries(**filters)` as a pandas DataFrame (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Ledger.to_dataframe needs pandas: pip install pandas") from None
        rows = [asdict(e) for e in self.entries(**filters)]
        frame = pd.DataFrame(rows, columns=["id", *COLUMNS])
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame.set_index("id")

    # -- sharing -------------------------------------------------------------------------------
    def export(self, destination: str | os.PathLike, *, session: str | None = None,
               notebook: str | None = None, replace: bool = False) -> int:
        """Write the matching exchanges to a new small ledger (one self-contained file, no WAL)
        and return how many. Raises FileExistsError unless `replace`, and LedgerProblem when
        SQLite fails (an export the user asked for fails loudly, leaving no half-written file)."""
        import sqlite3

        destination = Path(destination)
        if destination.resolve() == self.path.resolve():
            raise ValueError("the export would overwrite the ledger itself; choose another file")
        if destination.exists():
            if not replace:
                raise FileExistsError(str(destination))
            destination.unlink()
        where, params = _filters(session=session, notebook=notebook)
        with self.using():
            pass  # the source exists and can be read (raises if it cannot)
        self._settled()
        make_private_folder(destination.parent)
        # A lesson holds prompts and answers too: private until its owner chooses to share it.
        create_private_file(destination)
        try:
            count = _copy_rows(destination, self.path, where, params)
        except sqlite3.Error as err:
            destination.unlink(missing_ok=True)
            raise LedgerProblem(str(err)) from None
        self._export_media(destination, where, params)
        return count

    def _export_media(self, destination: Path, where: str, params: tuple) -> None:
        """The lesson takes its images and videos along, into its own media folder."""
        from grok_magic.ledger.media import MediaStore, media_folder

        clause = f"{where} AND media IS NOT NULL" if where else "WHERE media IS NOT NULL"
        wanted = [(item["sha256"], item.get("media_type") or "")
                  for entry in self._select(clause, params) for item in entry.media_items
                  if isinstance(item.get("sha256"), str)] if "media" in self.columns else []
        if wanted:
            MediaStore(media_folder(self.path)).copy_to(MediaStore(media_folder(destination)),
                                                        wanted)


def _copy_rows(destination: Path, source: Path, where: str, params: tuple) -> int:
    import sqlite3

    conn = sqlite3.connect(destination, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        migrate(conn, readonly=False)
        conn.execute("ATTACH DATABASE ? AS source", (str(source),))
        columns = ", ".join(COLUMNS)
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO exchanges ({columns}) SELECT {columns} "
                     f"FROM source.exchanges {where} ORDER BY id", params)
        conn.execute("COMMIT")
        count = conn.execute("SELECT count(*) FROM exchanges").fetchone()[0]
        conn.execute("DETACH DATABASE source")
    finally:
        conn.close()
    return count


def _filters(*, since=None, model=None, session=None, notebook=None, status=None,
             request_hash=None) -> tuple[str, tuple]:
    clauses, params = [], []
    if since is not None:
        clauses.append("time >= ?")
        params.append(iso(since) if isinstance(since, datetime) else str(since))
    if model is not None:
        clauses.append("(model_asked = ? OR model_served = ?)")
        params += [model, model]
    for column, value in (("session", session), ("notebook", notebook), ("status", status),
                          ("request_hash", request_hash)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def open_ledger(location: Path | None, *, replay: str = "off",
                notify: Callable[[str], None] | None = None) -> Ledger | None:
    """The ledger at `location` (None: off); read-only when replay is "only", so a lesson
    ledger is never written to."""
    if location is None:
        return None
    return Ledger(location, readonly=replay == "only", notify=notify)

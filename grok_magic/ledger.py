"""Ledger: every exchange with xAI in one local SQLite file — history, cost, replay, export.

One file, WAL mode (several kernels may write at once), a versioned schema migrated in place.
`sqlite3` is imported on first use. A ledger that cannot be read or written (corrupt, locked,
read-only, full) never breaks a cell: it warns once and the answer is shown unrecorded.

The ledger holds every prompt, answer, value sent, traceback and notebook path, so what grok_magic
creates is private: files 0600 (SQLite gives its -wal and -shm files the mode of the database),
folders 0700. A ledger that others can read, left by an older version, is pointed out once with
the command that fixes it; it is not changed behind its owner's back.

>>> ledger = Ledger(Path("lesson.sqlite"))          # doctest: +SKIP
>>> [e.question for e in ledger.entries(model="grok-4")]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

from grok_magic.private_files import create_private_file, make_private_folder, warn_once_if_open

BUSY_TIMEOUT = 10.0  # seconds a writer waits for another kernel's write to finish

# Each step brings a ledger from version i to i + 1 (PRAGMA user_version counts the steps done).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE exchanges (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,              -- UTC, ISO 8601 with milliseconds and Z
        session TEXT NOT NULL,           -- one id per kernel (process)
        notebook TEXT,                   -- JPY_SESSION_NAME when known
        cell INTEGER,                    -- execution count
        source TEXT NOT NULL,            -- cell, panel, script, batch
        api TEXT NOT NULL,               -- chat, responses
        endpoint TEXT NOT NULL,
        model_asked TEXT,
        model_served TEXT,
        request_hash TEXT NOT NULL,      -- SHA-256 of the canonical request (see canonical.py)
        request TEXT NOT NULL,           -- canonical request JSON: images as SHA-256 + size
        question TEXT,                   -- the last user turn's text, for listings
        answer TEXT,
        reasoning TEXT,
        finish_reason TEXT,
        usage TEXT,                      -- every usage field, JSON
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        image_tokens INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        cost REAL,                       -- USD
        response_id TEXT,
        request_id TEXT,
        first_token_s REAL,
        total_s REAL,
        status TEXT NOT NULL,            -- ok, error, stopped, incomplete
        error TEXT,
        citations TEXT,                  -- JSON list
        tool_calls TEXT                  -- JSON list
    );
    CREATE INDEX exchanges_replay ON exchanges (request_hash, status);
    CREATE INDEX exchanges_time ON exchanges (time);
    CREATE INDEX exchanges_session ON exchanges (session);
    CREATE INDEX exchanges_notebook ON exchanges (notebook);
    """,
    # 2: Batch API jobs, so they outlive the kernel (see batch_book.py).
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,             -- xAI's batch id (one part of a job)
        job_id TEXT NOT NULL,            -- the job's id: its first part's batch id
        name TEXT,
        created TEXT NOT NULL,
        session TEXT,
        notebook TEXT,
        cell INTEGER,
        model TEXT,
        endpoint TEXT NOT NULL,
        count INTEGER NOT NULL,          -- items in the whole run (sent + replayed)
        job_key TEXT NOT NULL,           -- SHA-256 of every item's request hash, in order
        row_index TEXT NOT NULL,         -- the input's index, JSON
        structured INTEGER NOT NULL DEFAULT 0,
        out_name TEXT,
        status TEXT NOT NULL,            -- pending, done, cancelled, expired
        state TEXT,                      -- xAI's last word on it, JSON
        finished TEXT,
        input_file_id TEXT,
        upload_bytes INTEGER
    );
    CREATE INDEX batches_key ON batches (job_key);
    CREATE INDEX batches_job ON batches (job_id);
    CREATE TABLE batch_rows (
        batch_id TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        request_hash TEXT NOT NULL,
        request TEXT NOT NULL,           -- canonical request JSON (images as SHA-256 + size)
        question TEXT,
        recorded INTEGER NOT NULL DEFAULT 0,  -- its answer is in exchanges
        PRIMARY KEY (batch_id, custom_id)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class LedgerProblem(Exception):
    """The ledger file cannot be used (it is newer than this grok_magic, or not a ledger)."""


class LedgerWarning(UserWarning):
    """The ledger could not be read or written; the answer was still shown."""


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
    id: int | None = None

    @property
    def usage_fields(self) -> dict:
        return json.loads(self.usage) if self.usage else {}


COLUMNS = tuple(f.name for f in fields(Entry) if f.name != "id")


@dataclass(frozen=True)
class ModelTotal:
    """What one model answered and cost over a period."""

    model: str
    answers: int
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cost: float


def utc_now() -> str:
    return iso(datetime.now(timezone.utc))


def iso(moment: datetime) -> str:
    """`moment` as the ledger writes times (a naive datetime is taken as local time)."""
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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


class Ledger:
    """One SQLite ledger file. Thread-safe; every method returns a harmless default (and warns
    once, through `notify`) if the file cannot be used. `readonly` opens it without ever
    writing (a lesson ledger shared with a class stays byte-for-byte as it was)."""

    def __init__(
        self, path: str | os.PathLike, *, readonly: bool = False,
        notify: Callable[[str], None] | None = None, busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.notify = notify
        self.busy_timeout = busy_timeout
        self.warned = False
        self.problem: str | None = None
        self._conn = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        mode = "read-only" if self.readonly else "read-write"
        return f"Ledger({str(self.path)!r}, {mode})"

    # -- connection ----------------------------------------------------------------------------
    def _connect(self):
        if self._conn is not None:
            return self._conn
        import sqlite3

        created = False
        if self.readonly:
            if not self.path.is_file():
                raise LedgerProblem("the file does not exist")
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=self.busy_timeout, check_same_thread=False,
                                   isolation_level=None)
        else:
            make_private_folder(self.path.parent)
            created = create_private_file(self.path)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                   check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if not self.readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        if not (self.readonly or created):  # only now: a non-ledger gets its own one warning
            warn_once_if_open(self.path, self._say)
        self._conn = conn
        return conn

    def _migrate(self, conn) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerProblem(f"it was written by a newer grok_magic (schema {version}, this "
                                f"one knows {SCHEMA_VERSION}); upgrade grok_magic to use it")
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            if version >= 1:
                return  # later steps only add tables: exchanges read the same (no batch jobs)
            raise LedgerProblem("it is not a grok_magic ledger (no schema version)")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another kernel may have migrated while this one waited for the lock.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _using(self) -> Iterator[object]:
        with self._lock:
            yield self._connect()

    def _safely(self, what: str, action: Callable, default):
        """Run `action(conn)`; on any database or file error warn once and return `default`."""
        import sqlite3

        try:
            with self._using() as conn:
                return action(conn)
        except (sqlite3.Error, OSError, LedgerProblem) as err:
            self._problem(what, err)
            return default

    def _problem(self, what: str, err: BaseException) -> None:
        self.problem = f"{type(err).__name__}: {err}"
        if self._conn is not None and not isinstance(err, LedgerProblem):
            # A broken connection is dropped, so the next exchange tries afresh.
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may itself fail
                pass
            self._conn = None
        if self.warned:
            return
        self.warned = True
        message = (
            f"grok_magic could not {what} its ledger {self.path} ({err}). The answer is shown "
            "as usual but is not recorded, and replay and daily budgets cannot see it. Fix or "
            "move the file, point GROK_LEDGER (or %config GrokMagics.ledger) at another one, or "
            "turn the ledger off with GROK_LEDGER=off. (This is said once per session.)"
        )
        self._say(message)

    def _say(self, message: str) -> None:
        """One message to the person at the notebook: through `notify`, else a Python warning."""
        if self.notify is not None:
            self.notify(message)
        else:
            warnings.warn(message, LedgerWarning, stacklevel=5)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- writing -------------------------------------------------------------------------------
    def record(self, entry: Entry) -> int | None:
        """Add one exchange; its row id, or None if it could not be written."""
        if self.readonly:
            return None
        values = [getattr(entry, c) for c in COLUMNS]
        sql = (f"INSERT INTO exchanges ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(COLUMNS))})")
        row_id = self._safely("write to", lambda conn: conn.execute(sql, values).lastrowid, None)
        entry.id = row_id
        return row_id

    def record_many(self, entries: list[Entry]) -> int:
        """Add many exchanges in one transaction; how many were written."""
        if self.readonly or not entries:
            return 0
        sql = (f"INSERT INTO exchanges ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(COLUMNS))})")
        rows = [[getattr(e, c) for c in COLUMNS] for e in entries]

        def write(conn) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return len(rows)

        return self._safely("write to", write, 0)

    # -- reading -------------------------------------------------------------------------------
    def _select(self, where: str = "", params: tuple = (), tail: str = "") -> list[Entry]:
        sql = f"SELECT id, {', '.join(COLUMNS)} FROM exchanges {where} {tail}"

        def read(conn) -> list[Entry]:
            return [Entry(**dict(zip(("id", *COLUMNS), row, strict=True)))
                    for row in conn.execute(sql, params)]

        return self._safely("read", read, [])

    def find_answer(self, request_hash: str) -> Entry | None:
        """The latest complete answer to the request with this canonical hash."""
        found = self._select("WHERE request_hash = ? AND status = 'ok'", (request_hash,),
                             "ORDER BY id DESC LIMIT 1")
        return found[0] if found else None

    def entries(
        self, *, since: datetime | str | None = None, model: str | None = None,
        session: str | None = None, notebook: str | None = None, status: str | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """Exchanges, oldest first; `limit` keeps the most recent ones. `model` matches the
        model asked for or the one that answered."""
        where, params = _filters(since=since, model=model, session=session, notebook=notebook,
                                 status=status)
        if limit is None:
            return self._select(where, params, "ORDER BY id")
        latest = self._select(where, params, f"ORDER BY id DESC LIMIT {int(limit)}")
        return latest[::-1]

    def last(self, n: int = 10) -> list[Entry]:
        return self.entries(limit=n)

    def totals(self, since: datetime | str | None = None) -> list[ModelTotal]:
        """Answers, tokens and cost per model since `since` (all time when None)."""
        where, params = _filters(since=since)
        sql = ("SELECT coalesce(model_served, model_asked, '?'), count(*), sum(prompt_tokens), "
               "sum(completion_tokens), sum(reasoning_tokens), coalesce(sum(cost), 0) "
               f"FROM exchanges {where} GROUP BY 1 ORDER BY 6 DESC, 1")
        return self._safely(
            "read", lambda conn: [ModelTotal(*row) for row in conn.execute(sql, params)], [])

    def spent(self, since: datetime | str | None = None) -> float:
        """USD spent since `since`, every kernel together."""
        where, params = _filters(since=since)
        sql = f"SELECT coalesce(sum(cost), 0) FROM exchanges {where}"
        return self._safely("read", lambda conn: conn.execute(sql, params).fetchone()[0], 0.0)

    def count(self) -> int:
        return self._safely(
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
        with self._using():
            pass  # the source exists and has the current schema (raises if it cannot)
        make_private_folder(destination.parent)
        # A lesson holds prompts and answers too: private until its owner chooses to share it.
        create_private_file(destination)
        try:
            count = _copy_rows(destination, self.path, where, params)
        except sqlite3.Error as err:
            destination.unlink(missing_ok=True)
            raise LedgerProblem(str(err)) from None
        return count


def _copy_rows(destination: Path, source: Path, where: str, params: tuple) -> int:
    import sqlite3

    conn = sqlite3.connect(destination, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        Ledger(destination)._migrate(conn)
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


def _filters(*, since=None, model=None, session=None, notebook=None, status=None
             ) -> tuple[str, tuple]:
    clauses, params = [], []
    if since is not None:
        clauses.append("time >= ?")
        params.append(iso(since) if isinstance(since, datetime) else str(since))
    if model is not None:
        clauses.append("(model_asked = ? OR model_served = ?)")
        params += [model, model]
    for column, value in (("session", session), ("notebook", notebook), ("status", status)):
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

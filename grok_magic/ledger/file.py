"""The ledger's SQLite file: opened safely (checked for damage, migrated, read-only when it
cannot be written), used through `safely`, and its problems said once to the person at the
notebook. `Ledger` (ledger.store) builds the exchanges on it."""

from __future__ import annotations

import atexit
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from grok_magic.ledger.health import damage, move_aside, moved_message
from grok_magic.ledger.schema import LedgerProblem, migrate
from grok_magic.private_files import create_private_file, make_private_folder, warn_once_if_open

BUSY_TIMEOUT = 0.1  # seconds a write waits for another kernel's lock before going on in background
_OPEN: weakref.WeakSet = weakref.WeakSet()  # files with a connection: closed at exit


def utc_now() -> str:
    return iso(datetime.now(timezone.utc))


def iso(moment: datetime) -> str:
    """`moment` as the ledger writes times (a naive datetime is taken as local time)."""
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class LedgerWarning(UserWarning):
    """The ledger could not be read or written; the answer was still shown."""


class LedgerFile:
    """One SQLite ledger file. Thread-safe; `safely` returns a harmless default (and warns once,
    through `notify`) if the file cannot be used. `readonly` opens it without ever writing (a
    lesson ledger shared with a class stays byte-for-byte as it was); a file this process may
    not write is opened so too (`writable` then turns False) and is read and listed."""

    def __init__(
        self, path: str | os.PathLike, *, readonly: bool = False,
        notify: Callable[[str], None] | None = None, busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.writable = not readonly
        self.notify = notify
        self.busy_timeout = busy_timeout
        self.warned = False
        self.problem: str | None = None
        self.columns: frozenset[str] = frozenset()  # the exchanges table's columns
        self._conn = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        mode = "read-write" if self.writable else "read-only"
        return f"{type(self).__name__}({str(self.path)!r}, {mode})"

    # -- connection ----------------------------------------------------------------------------
    def _connect(self):
        if self._conn is not None:
            return self._conn
        import sqlite3

        conn = None
        if self.writable and self.path.is_file() and not os.access(self.path, os.W_OK):
            self._read_only_here()
        if self.writable:
            try:
                conn = self._open_writable()
            except sqlite3.OperationalError as err:
                if "readonly" not in str(err) and "read-only" not in str(err):
                    raise
                self._read_only_here()
        if conn is None:
            conn = self._open_readonly()
        self.columns = frozenset(row[1] for row in conn.execute("PRAGMA table_info(exchanges)"))
        self._conn = conn
        _OPEN.add(self)
        return conn

    def _read_only_here(self) -> None:
        self.writable = False  # a file this process may not write: read it, as it is
        self.say(f"The ledger {self.path} is read-only for this process, so answers are shown "
                  "and listed but not recorded in it. (This is said once.)")

    def _sqlite(self, target, **options):
        import sqlite3

        conn = sqlite3.connect(target, timeout=self.busy_timeout, check_same_thread=False,
                               isolation_level=None, **options)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    def _open_readonly(self):
        if not self.path.is_file():
            raise LedgerProblem("the file does not exist")
        import sqlite3

        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        conn = self._sqlite(uri, uri=True)
        try:
            migrate(conn, readonly=True)
        except sqlite3.OperationalError:
            # A WAL ledger in a folder this process may not write (no -shm can be made) opens
            # only as an unchanging file: read as it is now.
            conn.close()
            conn = self._sqlite(uri + "&immutable=1", uri=True)
            try:
                migrate(conn, readonly=True)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_writable(self):
        make_private_folder(self.path.parent)
        created = create_private_file(self.path)
        conn = self._sqlite(self.path)
        try:
            found = None if created else damage(conn)
            if found is not None:  # never written into: moved aside as it is, a new one begun
                conn.close()
                target = move_aside(self.path)
                self.say(moved_message(self.path, target, found))
                create_private_file(self.path)
                conn = self._sqlite(self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, readonly=False)
        except BaseException:
            conn.close()
            raise
        if not created:  # only now: a non-ledger gets its own one warning
            warn_once_if_open(self.path, self.say)
        return conn

    @contextmanager
    def using(self) -> Iterator[object]:
        with self._lock:
            yield self._connect()

    def safely(self, what: str, action: Callable, default):
        """Run `action(conn)`; on any database or file error warn once and return `default`."""
        import sqlite3

        try:
            with self.using() as conn:
                return action(conn)
        except (sqlite3.Error, OSError, LedgerProblem) as err:
            self.trouble(what, err)
            return default

    def can_write(self) -> bool:
        """Whether answers can be recorded here (the file is opened, if it was not yet, to know)."""
        if self.readonly:
            return False
        if self._conn is None:
            self.safely("open", lambda conn: None, None)
        return self.writable and self._conn is not None

    def readable(self) -> str | None:
        """None if the ledger can be read, else why not (for reports that would otherwise say
        "no exchanges" of a file they could not read)."""
        import sqlite3

        try:
            with self.using() as conn:
                conn.execute("SELECT count(*) FROM exchanges").fetchone()
        except (sqlite3.Error, OSError, LedgerProblem) as err:
            self.trouble("read", err)
            return str(err)
        return None

    def trouble(self, what: str, err: BaseException) -> None:
        """`err` stopped this ledger from doing `what`: note it, and say it once."""
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
        self.say(
            f"grok_magic could not {what} its ledger {self.path} ({err}). The answer is shown "
            "as usual but is not recorded, and replay and daily budgets cannot see it. Fix or "
            "move the file, point GROK_LEDGER (or %config GrokMagics.ledger) at another one, or "
            "turn the ledger off with GROK_LEDGER=off. (This is said once per session.)")

    def before_closing(self) -> None:
        """What must be done while the file is still open (a subclass writes out its rows)."""

    def say(self, message: str) -> None:
        """One message to the person at the notebook: through `notify`, else a Python warning."""
        if self.notify is not None:
            self.notify(message)
        else:
            warnings.warn(message, LedgerWarning, stacklevel=5)

    def close(self) -> None:
        self.before_closing()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


@contextmanager
def transaction(conn, wait: float | None = None, usual: float = BUSY_TIMEOUT) -> Iterator[object]:
    """One write transaction (BEGIN IMMEDIATE … COMMIT, rolled back on any error), waiting up
    to `wait` seconds for the lock (then back to `usual`)."""
    if wait is not None:
        conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite has already rolled back after some errors (full)
                conn.execute("ROLLBACK")
            raise
    finally:
        if wait is not None:
            conn.execute(f"PRAGMA busy_timeout = {int(usual * 1000)}")


@atexit.register
def _close_at_exit() -> None:
    """A kernel or script that simply ends leaves no connection open (Python 3.13 warns of one
    never closed); `close` writes out the rows still queued first."""
    for file in list(_OPEN):
        file.close()


def is_busy(err: BaseException) -> bool:
    """Whether `err` only means another connection holds the lock."""
    return "locked" in str(err) or "busy" in str(err)

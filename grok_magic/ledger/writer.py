"""One writer thread per ledger: rows are written in the background, so a lock held by another
process never stalls a cell.

A write waits at most `busy_timeout` (a tenth of a second) for SQLite's lock, and the end of an
answer waits at most as long for its row. When another process holds the lock longer, the rows
stay queued and are written as soon as it frees, oldest first; once rows have waited a second,
the next answer to end says so, once, through `on_waiting`. Until then they still count: `pending()` lists
them for spending totals and budgets. At exit the queue is written out (for a few seconds at
most, if the lock is still held).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

BACKOFF = (0.05, 0.1, 0.2, 0.5, 1.0)  # seconds between tries while the lock is held
EXIT_WAIT = 5.0  # seconds the interpreter's exit waits for queued rows
TELL_AFTER = 1.0  # rows waiting this long mean another program holds the lock: say so (once)

_WRITERS: weakref.WeakSet = weakref.WeakSet()


@dataclass
class Job:
    """Rows to add in one transaction, and the reservations they settle."""

    rows: list
    settles: tuple = ()
    done: threading.Event = field(default_factory=threading.Event)
    written: int = 0  # rows actually added (a row already in the ledger is not added again)
    queued: float = field(default_factory=time.monotonic)


class LedgerWriter:
    """Writes `Job`s through `write(job) -> rows added`. `is_busy(err)`: the error only means
    the lock is held (try again later); any other error is handed to `on_error` and the job
    dropped (the ledger cannot take it: full, damaged, read-only)."""

    def __init__(self, write: Callable[[Job], int], *, is_busy: Callable[[BaseException], bool],
                 on_error: Callable[[BaseException], None], on_waiting: Callable[[int], None]) -> None:
        self._write, self._is_busy = write, is_busy
        self._on_error, self._on_waiting = on_error, on_waiting
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._told = False
        _WRITERS.add(self)

    def put(self, job: Job, wait: float = 0.1) -> Job:
        """Queue `job` and wait up to `wait` seconds for it to be written."""
        with self._cond:
            self._queue.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="grok-ledger-writer",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()
        if not job.done.wait(wait):
            with self._cond:
                oldest = self._queue[0].queued if self._queue else time.monotonic()
                tell = not self._told and time.monotonic() - oldest >= TELL_AFTER
                self._told = self._told or tell
                waiting = len(self.pending()) if tell else 0
            if tell:
                self._on_waiting(waiting)
        return job

    def pending(self) -> list:
        """Rows queued and not yet written."""
        with self._cond:
            return [row for job in self._queue for row in job.rows]

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the queue to empty; whether it did."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue, timeout)

    def _run(self) -> None:
        tries = 0
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(30.0)
                    if not self._queue:
                        self._thread = None
                        return
                job = self._queue[0]
            try:
                job.written = self._write(job)
            except Exception as err:  # noqa: BLE001 - sorted below: busy, or the ledger is unusable
                if self._is_busy(err):
                    with self._cond:
                        self._cond.wait(BACKOFF[min(tries, len(BACKOFF) - 1)])
                    tries += 1
                    continue
                self._on_error(err)
            tries = 0
            with self._cond:
                self._queue.popleft()
                job.done.set()
                self._cond.notify_all()


@atexit.register
def _write_out() -> None:
    for writer in list(_WRITERS):
        writer.drain(EXIT_WAIT)

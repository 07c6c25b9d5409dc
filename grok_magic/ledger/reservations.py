"""Money held for requests in flight, in the ledger itself, so every kernel sees every other's.

A request reserves its worst case (its prompt plus its completion limit) in the same transaction
that checks the budget, and its answer's row settles the reservation in the transaction that
adds it. A reservation of a process that is gone (same machine) or past its expiry is dropped.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

from grok_magic.ledger.file import iso

HOST = socket.gethostname()


def prune(conn) -> None:
    """Drop reservations past their expiry, and those of processes on this machine that are gone."""
    conn.execute("DELETE FROM reservations WHERE expires < ?", (iso(datetime.now(timezone.utc)),))
    for (pid,) in conn.execute("SELECT DISTINCT pid FROM reservations WHERE host = ? AND pid != ?",
                               (HOST, os.getpid())).fetchall():
        if not _alive(pid):
            conn.execute("DELETE FROM reservations WHERE host = ? AND pid = ?", (HOST, pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def held(conn) -> float:
    """USD reserved by every request in flight, every kernel."""
    return conn.execute("SELECT coalesce(sum(amount), 0) FROM reservations").fetchone()[0]


def add(conn, session: str, amount: float, seconds: float) -> str:
    """Reserve `amount` USD for a request that may run `seconds`; the reservation's id."""
    now = datetime.now(timezone.utc)
    key = uuid.uuid4().hex
    conn.execute("INSERT INTO reservations (id, session, host, pid, time, expires, amount) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (key, session, HOST, os.getpid(), iso(now),
                  iso(now + timedelta(seconds=seconds + 60)), amount))
    return key


def settle(conn, keys) -> None:
    conn.executemany("DELETE FROM reservations WHERE id = ?", [(k,) for k in keys])

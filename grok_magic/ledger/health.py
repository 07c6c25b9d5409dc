"""A damaged ledger is found before anything is written into it, and moved aside untouched.

`PRAGMA quick_check` reads every page (milliseconds for a ledger of thousands of answers) and
reports random bytes inside a data page that a plain query may never touch. A damaged file is
renamed, with its -wal and -shm files, byte for byte as it was, so nothing in it is lost and
nothing new is written into it; a fresh ledger takes its place.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

SIDE_FILES = ("-wal", "-shm")


def damage(conn) -> str | None:
    """What `PRAGMA quick_check` found wrong with the database on `conn`, or None if it is sound.
    Raises sqlite3.DatabaseError when the file is not a database at all."""
    import sqlite3

    try:
        found = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as err:
        if "malformed" in str(err) or "corrupt" in str(err):
            return str(err)
        raise
    if found == ["ok"]:
        return None
    return "; ".join(found)[:300]


def move_aside(path: Path) -> Path:
    """Rename the ledger at `path` (and its -wal and -shm files) to a free name beside it, ending
    in .damaged-<time>.sqlite; the new path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}.damaged-{stamp}{path.suffix or '.sqlite'}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}.damaged-{stamp}-{n}{path.suffix or '.sqlite'}")
    path.rename(target)
    for side in SIDE_FILES:
        extra = Path(f"{path}{side}")
        if extra.exists():
            extra.rename(Path(f"{target}{side}"))
    return target


def moved_message(path: Path, target: Path, what: str) -> str:
    return (f"grok_magic found the ledger {path} damaged ({what}), so it wrote nothing into it: "
            f"the file was moved, unchanged, to {target}, and a new, empty ledger was started "
            f"at {path}. Answers recorded before are in the moved file; `sqlite3 {target} "
            "'.recover'` may rescue them. (This is said once.)")

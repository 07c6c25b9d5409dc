"""Files only their owner may read: the ledger, its -wal/-shm, exported lessons. What grok_magic
creates is 0600 in folders 0700; an existing ledger that others can read is pointed out once,
with the command that makes it private (it is not changed behind its owner's back)."""

from __future__ import annotations

import os
import shlex
import stat
import threading
from collections.abc import Callable
from pathlib import Path

PRIVATE_FILE = 0o600  # the owner reads and writes; nobody else
PRIVATE_FOLDER = 0o700
SIDECARS = ("-wal", "-shm")  # the files SQLite keeps beside a WAL database


_WARNED_OPEN: set[str] = set()  # ledgers already said to be open to others, in this kernel
_WARNED_LOCK = threading.Lock()


def make_private_folder(folder: Path) -> None:
    """Create `folder` and any missing parents, 0700. Folders that already exist are left as they
    are: they are the user's, not grok_magic's."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        try:
            each.mkdir(mode=PRIVATE_FOLDER)
        except FileExistsError:
            continue  # another kernel made it meanwhile: not ours to change
        os.chmod(each, PRIVATE_FOLDER)  # the umask can only take bits away; this sets them all


def create_private_file(path: Path) -> bool:
    """Create `path` empty and 0600, unless it exists; whether it was created. SQLite then
    writes into it, and gives the -wal, -shm and -journal files beside it the same mode."""
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
    except FileExistsError:
        return False  # an existing file keeps its mode (see open_ledger_warning)
    os.close(handle)
    os.chmod(path, PRIVATE_FILE)  # exactly 0600, whatever the umask took away
    return True


def warn_once_if_open(path: Path, say: Callable[[str], None]) -> None:
    """Say once per kernel (per file) that others can read this ledger, and how to stop it."""
    message = open_ledger_warning(path)
    if message is None:
        return
    with _WARNED_LOCK:
        key = str(path.absolute())
        if key in _WARNED_OPEN:
            return
        _WARNED_OPEN.add(key)
    say(message)


def open_ledger_warning(path: Path) -> str | None:
    """What to tell the owner of a ledger that other users can open (with the commands that
    make it private), or None. Only the owner can chmod it, so only the owner is told."""
    if os.name == "nt":
        return None  # Windows guards files with ACLs, not these mode bits
    files = [path, *(path.with_name(path.name + suffix) for suffix in SIDECARS)]
    modes = [m for m in map(_owned_mode, files) if m is not None]
    loose = [m for m in modes if m & 0o077]
    if not loose:
        return None
    where = path.absolute()
    commands = f"chmod 600 {shlex.quote(str(where))}*"
    folder_mode = _owned_mode(where.parent)
    # A sticky folder (/tmp) is shared on purpose: closing it would break everyone else.
    if folder_mode is not None and folder_mode & 0o077 and not folder_mode & stat.S_ISVTX:
        commands += (f" (and, unless others need that folder, chmod 700 "
                     f"{shlex.quote(str(where.parent))})")
    return (
        f"grok_magic's ledger {where} can be opened by other users of this computer (mode "
        f"{loose[0]:o}), and it holds every prompt, answer, value sent, traceback and notebook "
        "path recorded. grok_magic makes new ledgers private but does not change an existing "
        f"one: to make it private, run {commands}. (This is said once per session.)"
    )


def _owned_mode(path: Path) -> int | None:
    """The permission bits of `path` when it exists and belongs to this user, else None."""
    try:
        info = path.stat()
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if info.st_uid == os.getuid() else None

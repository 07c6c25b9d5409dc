"""What grok_magic writes to disk is for its owner only, whatever the umask: the ledger and the
-wal and -shm files SQLite keeps beside it are 0600 and the folders made for them 0700; so are
exported lessons and the JSONL files written for xAI's Batch API. A ledger that others can open,
left by an older version, is pointed out once per kernel with the command that fixes it, and is
not changed behind its owner's back."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from grok_magic.runs.batch_job import BatchJob, PollSchedule
from grok_magic.xai.batch_api import BatchAPI
from tests.support.magic_helpers import magic_shell, run, wait_until

pytestmark = pytest.mark.skipif(os.name == "nt", reason="Windows guards files with ACLs")

FAST = PollSchedule(first=0.02, factor=1.0, floor=0.02, cap=0.02)
QUESTION = "%%grok\nWhat is a median?"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


@pytest.fixture(autouse=True)
def umask_022():
    """The usual umask, under which files are made 0644 and folders 0755 unless asked not to."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def new_shell(xai_env):
    """Makes the shell with fresh magics, as a kernel has them after the environment is set
    (the ledger's place is read then); every ledger they opened is closed at the end."""
    made = []

    def make():
        shell_ = magic_shell(max_retries=0)
        made.append(shell_.grok_magics)
        return shell_

    yield make
    for magics in made:
        if magics.recorder.ledger is not None:
            magics.recorder.ledger.close()


def old_ledger(path: Path) -> None:
    """A ledger as an older grok_magic left it: created with the umask's 0644 in a 0755 folder."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE placeholder (x)")  # SQLite writes the file at its first table
    conn.close()
    path.chmod(0o644)
    os.chmod(path.parent, 0o755)


# -- new files ----------------------------------------------------------------------------------
def test_a_new_ledger_and_its_wal_and_shm_are_0600_in_folders_made_0700(new_shell, tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "made" / "for" / "it" / "ledger.sqlite"
    monkeypatch.setenv("GROK_LEDGER", str(path))
    before = mode(tmp_path)
    ip = new_shell()
    out = run(ip, QUESTION)
    assert out.error is None, out.everything()
    assert ip.grok_magics.recorder.ledger.count() == 1  # recorded, connection still open
    for file in (path, *sidecars(path)):
        assert file.exists(), f"{file.name} is missing: is the ledger not in WAL mode?"
        assert mode(file) == 0o600, (file.name, oct(mode(file)))
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert mode(folder) == 0o700, (folder, oct(mode(folder)))
    assert mode(tmp_path) == before  # a folder grok_magic did not make is left as it was
    assert "chmod" not in out.stderr  # nothing to point out about a ledger it made itself


def test_the_default_ledger_folders_are_made_0700(new_shell):
    home = Path(os.environ["HOME"])  # conftest: a temp HOME, no GROK_LEDGER, no XDG_DATA_HOME
    before = mode(home)
    ip = new_shell()
    out = run(ip, QUESTION)
    assert out.error is None, out.everything()
    assert ip.grok_magics.recorder.ledger.count() == 1
    path = home / ".local" / "share" / "grok_magic" / "ledger.sqlite"
    assert [oct(mode(f)) for f in (path, *sidecars(path))] == [oct(0o600)] * 3
    assert [oct(mode(f)) for f in (home / ".local", home / ".local" / "share", path.parent)] \
        == [oct(0o700)] * 3
    assert mode(home) == before


def test_an_exported_lesson_is_0600_and_its_new_folder_0700(new_shell, tmp_path, monkeypatch):
    monkeypatch.setenv("GROK_LEDGER", str(tmp_path / "ledger.sqlite"))
    ip = new_shell()
    assert run(ip, QUESTION).error is None
    lesson = tmp_path / "to share" / "lesson.sqlite"
    out = run(ip, f"%grok export '{lesson}'")
    assert "Exported 1 exchange" in out.stdout, out.everything()
    assert mode(lesson) == 0o600 and mode(lesson.parent) == 0o700
    lesson.chmod(0o644)
    out = run(ip, f"%grok export '{lesson}' --replace")
    assert "Exported 1 exchange" in out.stdout, out.everything()
    assert mode(lesson) == 0o600  # a replaced lesson is a new file, private again


def test_the_batch_jsonl_is_0600_while_it_exists(new_shell, tmp_path, monkeypatch):
    monkeypatch.setenv("GROK_LEDGER", str(tmp_path / "ledger.sqlite"))
    ip = new_shell()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: list[tuple[str, int]] = []
    upload = BatchAPI.upload

    def watched_upload(self, path, *args, **kwargs):
        seen.append((Path(path).name, mode(Path(path))))
        return upload(self, path, *args, **kwargs)

    monkeypatch.setattr(BatchAPI, "upload", watched_upload)
    ip.grok_magics.batch_schedule = FAST
    ip.user_ns["reviews"] = ["great", "poor", "fine"]
    out = run(ip, "%%grok --each reviews --batch-api -o labels\nSentiment of {item}")
    assert out.error is None, out.everything()
    wait_until(lambda: not isinstance(ip.user_ns["labels"], BatchJob))
    assert [(name.endswith(".jsonl"), oct(bits)) for name, bits in seen] == [(True, oct(0o600))]
    assert list(scratch.iterdir()) == []  # and it is gone once uploaded


# -- a ledger left open to others by an older version -------------------------------------------
def test_an_open_old_ledger_is_pointed_out_once_with_the_command(new_shell, tmp_path,
                                                                 monkeypatch):
    path = tmp_path / "shared" / "ledger.sqlite"
    old_ledger(path)
    monkeypatch.setenv("GROK_LEDGER", str(path))
    shell_ = new_shell()
    first = run(shell_, QUESTION)
    assert first.error is None, first.everything()
    assert first.stderr.count("chmod 600") == 1, first.stderr
    assert f"chmod 600 {path}*" in first.stderr and "mode 644" in first.stderr
    assert f"chmod 700 {path.parent}" in first.stderr
    assert "Traceback" not in first.everything()
    assert shell_.grok_magics.recorder.ledger.count() == 1  # recorded as usual
    assert mode(path) == 0o644  # warned, not silently changed
    second = run(shell_, QUESTION)
    assert second.error is None and "chmod" not in second.everything()
    shell_.grok_magics.recorder.ledger.close()
    # The same kernel with the magics loaded afresh (a new Ledger for the same file) has been
    # told already.
    third = run(new_shell(), QUESTION)
    assert third.error is None and "chmod" not in third.everything()


def test_the_command_given_makes_the_ledger_private(new_shell, tmp_path, monkeypatch):
    path = tmp_path / "old" / "ledger.sqlite"
    old_ledger(path)
    monkeypatch.setenv("GROK_LEDGER", str(path))
    shell_ = new_shell()
    out = run(shell_, QUESTION)
    assert out.error is None, out.everything()
    assert all(f.exists() for f in sidecars(path))
    for file in sidecars(path):
        file.chmod(0o644)  # as an older version left them
    command = out.stderr.split("run ", 1)[1].split(" (and", 1)[0]
    assert command == f"chmod 600 {path}*"
    subprocess.run(["sh", "-c", command], check=True)
    assert [oct(mode(f)) for f in (path, *sidecars(path))] == [oct(0o600)] * 3


def test_a_private_old_ledger_and_a_lesson_replayed_read_only_are_not_pointed_out(
        new_shell, tmp_path, monkeypatch):
    private = tmp_path / "private" / "ledger.sqlite"
    old_ledger(private)
    private.chmod(0o600)
    monkeypatch.setenv("GROK_LEDGER", str(private))
    shell_ = new_shell()
    out = run(shell_, QUESTION)
    assert out.error is None and "chmod" not in out.everything()
    lesson = tmp_path / "lesson.sqlite"
    assert "Exported 1" in run(shell_, f"%grok export {lesson}").stdout
    lesson.chmod(0o644)  # a lesson handed out to a class: grok_magic only reads it
    monkeypatch.setenv("GROK_LEDGER", str(lesson))
    monkeypatch.setenv("GROK_REPLAY", "only")
    out = run(new_shell(), QUESTION)
    assert out.error is None and "chmod" not in out.everything(), out.everything()

"""The lesson committed beside notebooks/05-lesson-replay.ipynb: a valid, self-contained ledger of
the current schema, holding exactly the notebook's `lesson` cells, and never written to when it is
replayed. (nbval runs the notebook itself; this does not run it a second time.)"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from grok_magic.ledger.recorder import ReplayMissError
from grok_magic.ledger.store import SCHEMA_VERSION
from grok_magic.notebook.magics import GrokMagics, commands
from tests.support.magic_helpers import run, shell
from tests.support.xai_standin import FAKE_KEY

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "05-lesson-replay.ipynb"
LESSON = NOTEBOOKS / "lesson-ledger.sqlite"
SIDE_FILES = ("-wal", "-shm", "-journal")


def lesson_cells() -> list[str]:
    """The sources of the notebook's code cells tagged `lesson`, in order."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells
            if c["cell_type"] == "code" and "lesson" in c["metadata"].get("tags", [])]


def question_text(source: str) -> str | None:
    """What a lesson cell asks (`%%grok` body or `%grok QUESTION`), or None if it asks nothing."""
    first, _, body = source.lstrip().partition("\n")
    if first.startswith("%%grok"):
        return None if "--dry-run" in first.split() else textwrap.dedent(body).strip()
    words = first.split(None, 1)
    if words[0] == "%grok" and len(words) > 1 and words[1].split()[0] not in commands():
        return words[1].strip()
    return None


def questions() -> list[str]:
    return [q for q in map(question_text, lesson_cells()) if q is not None]


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)


def side_files(path: Path) -> list[Path]:
    return [p for p in (Path(f"{path}{s}") for s in SIDE_FILES) if p.exists()]


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_lesson_ledger_is_a_current_self_contained_ledger():
    data = LESSON.read_bytes()
    assert data.startswith(b"SQLite format 3\x00")
    assert data[18:20] == b"\x01\x01", "the file is in WAL mode: export it (WAL needs a -wal file)"
    assert side_files(LESSON) == []
    conn = read_only(LESSON)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        statuses = [r[0] for r in conn.execute("SELECT status FROM exchanges ORDER BY id")]
        costs = [r[0] for r in conn.execute("SELECT cost FROM exchanges ORDER BY id")]
    finally:
        conn.close()
    assert statuses and set(statuses) == {"ok"}
    assert all(cost and cost > 0 for cost in costs)  # the class sees what it cost to record
    assert FAKE_KEY.encode() not in data and b"xai-" not in data
    assert b"127.0.0.1" not in data and b"/tmp/" not in data
    assert len(data) < 100_000  # small enough to commit


def test_its_questions_are_exactly_the_notebooks_lesson_cells():
    conn = read_only(LESSON)
    try:
        recorded = [r[0] for r in conn.execute("SELECT question FROM exchanges ORDER BY id")]
    finally:
        conn.close()
    asked = questions()
    assert len(recorded) == len(asked) >= 3
    for question, cell in zip(recorded, asked, strict=True):
        # `{name}` is sent as the value's text: compare the literal text around each one.
        pieces = [p.split("}", 1)[-1] for p in cell.split("{")]
        assert question.startswith(pieces[0]) and all(p in question for p in pieces), (question, cell)


@pytest.fixture
def replaying_ip(xai_server, monkeypatch):
    """A real shell whose magics replay the committed lesson with replay "only": no key, and
    XAI_BASE_URL at the stand-in, so anything sent would show in its request log."""
    monkeypatch.setenv("XAI_BASE_URL", xai_server.base_url)
    ip = shell()
    ip.config.pop("GrokMagics", None)
    saved = list(ip.configurables)
    magics = GrokMagics(shell=ip)
    ip.register_magics(magics)
    ip.configurables[:] = [c for c in ip.configurables if not isinstance(c, GrokMagics)]
    ip.configurables.append(magics)
    ip.user_ns.pop("_grok", None)
    assert run(ip, f'%config GrokMagics.ledger = "{LESSON}"\n'
                   '%config GrokMagics.replay = "only"').error is None
    yield ip, magics
    if magics.recorder.ledger is not None:
        magics.recorder.ledger.close()
    magics.errors.close()
    ip.config.pop("GrokMagics", None)
    ip.configurables[:] = saved


def test_replaying_the_lesson_through_the_magic_never_writes_to_it(replaying_ip, xai_server):
    ip, magics = replaying_ip
    before = fingerprint(LESSON)
    assert side_files(LESSON) == []
    assert magics.recorder.ledger.readonly

    replayed = []
    for source in lesson_cells():
        out = run(ip, source)
        assert out.error is None, (
            f"{source!r} did not replay ({out.error}); if grok_magic now builds requests "
            "differently, regenerate the lesson: python notebooks/make_lesson_ledger.py --standin")
        if question_text(source) is not None:
            answer = ip.user_ns["_grok"]
            assert answer.replayed and answer.cost == 0 and answer.original_cost > 0
            replayed.append(answer.replay_of)
    conn = read_only(LESSON)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM exchanges ORDER BY id")]
    finally:
        conn.close()
    assert replayed == ids  # every recorded exchange, once each, in order

    out = run(ip, "%%grok\nCan you explain p-values too?")
    assert isinstance(out.error, ReplayMissError)
    message = str(out.error)
    assert "p-values" in message and str(LESSON) in message and "nothing was sent" in message
    assert "Traceback" not in out.stdout + out.stderr

    magics.recorder.ledger.close()
    assert xai_server.requests == []
    assert fingerprint(LESSON) == before
    assert side_files(LESSON) == []

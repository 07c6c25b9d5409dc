"""Issue #11 item 7: a ledger that cannot be used never breaks an exchange, several kernels
writing at once lose nothing, and the key never reaches the ledger's bytes.

Every exchange goes through the real GrokClient over HTTP to the local stand-in, through a real
`Conversation(recorder=Recorder(Ledger(...)))` (or `%%grok` in a real InteractiveShell). The
faults are real too: garbage bytes, a second sqlite3 connection holding the write lock, a file
the writing process may not write (it drops root for `nobody`), SQLite refusing to grow the
file (`max_page_count`) or a real tmpfs with no space left, a schema newer than this code.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

from grok_magic.ask import Ask
from grok_magic.conversation import Conversation
from grok_magic.errors import GrokError, KeyInRequestError
from grok_magic.ledger.recorder import Recorder
from grok_magic.ledger.store import SCHEMA_VERSION, Entry, Ledger, LedgerWarning, utc_now
from grok_magic.safety.redaction import FRAGMENT
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from grok_magic.xai.messages import user_message
from tests.support.magic_helpers import close_ledger, magic_shell, run
from tests.support.xai_standin import FAKE_KEY, Fault, Reply, error_body

ROOT = Path(__file__).resolve().parents[2]
MODEL = "grok-4"
# Long enough (> one 4 KB page) that no ledger can keep them without growing.
FIRST = "First answer: the ledger is not needed to see this. " * 100
SECOND = "Second answer: nor to see this one. " * 150
WARNING_START = "grok_magic could not"
NOBODY = 65534


def ask(text: str, *, stream: bool = False) -> Ask:
    return Ask(user_message([text]), MODEL, stream=stream)


@pytest.fixture
def client(xai_env) -> GrokClient:
    return GrokClient(Settings.load())


def two_exchanges(client: GrokClient, srv, ledger: Ledger) -> list[str]:
    """One whole and one streamed exchange through `ledger`; the answers' texts. No Python
    warning may be issued on the side (the ledger speaks only through its `notify`)."""
    srv.enqueue(Reply(FIRST), Reply(SECOND))
    convo = Conversation(recorder=Recorder(ledger))
    gc.collect()  # an earlier test's garbage (Python 3.13 warns of an unclosed connection) is not ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = convo.send(client, ask("Question one"))
        second = convo.stream(client, ask("Question two", stream=True)).until_done()
    assert [str(w.message) for w in caught] == []
    assert len(srv.answer_requests) == 2  # both really went to "xAI"
    assert first.complete and second.complete
    assert convo.answers == 2 and convo.turns == 2  # the conversation itself is unharmed
    return [first.text, second.text]


def assert_one_warning(notes: list[str], path: Path, reason: str) -> None:
    assert len(notes) == 1, notes
    note = notes[0]
    assert note.startswith(WARNING_START), note
    assert str(path) in note, note
    assert "not recorded" in note, note
    assert reason in note, note


def rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM exchanges").fetchone()[0]
    finally:
        conn.close()


def fresh_ledger(path: Path) -> None:
    """A valid, empty ledger at `path` (schema created), closed (WAL checkpointed away)."""
    ledger = Ledger(path)
    assert ledger.count() == 0 and ledger.problem is None
    ledger.close()


# -- the faults ---------------------------------------------------------------------------------
class PageCapped(Ledger):
    """A ledger whose every connection SQLite lets grow by no page at all (PRAGMA
    max_page_count = the current size), so writing an answer fails with SQLITE_FULL."""

    def _connect(self):
        fresh = self._conn is None
        conn = super()._connect()
        if fresh:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn


@contextlib.contextmanager
def corrupt(tmp_path: Path, notes: list):
    path = tmp_path / "corrupt.sqlite"
    garbage = b"this is not a ledger \x00\xff" * 400
    path.write_bytes(garbage)
    ledger = Ledger(path, notify=notes.append)
    yield ledger, "file is not a database"
    ledger.close()
    assert path.read_bytes() == garbage  # the broken file was not "repaired" into something else


@contextlib.contextmanager
def full_pages(tmp_path: Path, notes: list):
    path = tmp_path / "full.sqlite"
    fresh_ledger(path)
    ledger = PageCapped(path, notify=notes.append)
    yield ledger, "database or disk is full"
    ledger.close()
    assert rows(path) == 0


@contextlib.contextmanager
def full_disk(tmp_path: Path, notes: list):
    """A real 256 KB tmpfs holding the ledger, then filled to the last byte."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "the max_page_count case covers a full ledger")
    try:
        path = mount / "ledger.sqlite"
        fresh_ledger(path)
        filler = mount / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            for block in (65536, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * block)
        finally:
            os.close(fd)
        assert os.statvfs(mount).f_bavail == 0
        ledger = Ledger(path, notify=notes.append)
        yield ledger, "error"  # SQLite says "disk I/O error" or "database or disk is full"
        ledger.close()
        filler.unlink()
        assert rows(path) == 0
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("fault", [corrupt, full_pages, full_disk],
                         ids=lambda f: f.__name__)
def test_a_broken_ledger_warns_once_and_every_answer_still_comes(fault, client, xai_server,
                                                                 tmp_path):
    notes: list[str] = []
    with fault(tmp_path, notes) as (ledger, reason):
        answers = two_exchanges(client, xai_server, ledger)
        assert answers == [FIRST, SECOND]
        assert_one_warning(notes, ledger.path, reason)
        assert ledger.problem is not None  # the second write failed too, and stayed quiet


def test_a_lock_held_by_another_program_stalls_no_answer_and_loses_no_row(client, xai_server,
                                                                         tmp_path):
    path = tmp_path / "locked.sqlite"
    fresh_ledger(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another kernel in the middle of a long write
    notes: list[str] = []
    ledger = Ledger(path, notify=notes.append)
    try:
        xai_server.enqueue(Reply(FIRST), Reply(SECOND), Reply(FIRST))
        convo = Conversation(recorder=Recorder(ledger))
        started = time.monotonic()
        answers = [convo.send(client, ask("one")).text]
        # Not waiting for the lock: the old busy timeout alone was 10 s per answer.
        assert time.monotonic() - started < 3
        assert notes == []  # a row may wait a moment: nothing to say yet
        time.sleep(1.2)  # the teacher reads the answer; the lock is still held
        answers.append(convo.stream(client, ask("two", stream=True)).until_done().text)
        answers.append(convo.send(client, ask("three")).text)
        assert answers == [FIRST, SECOND, FIRST]
        [note] = notes  # said once, and not as a failure
        assert note.startswith(f"The ledger {path} is locked by another program, so 2 answer(s) "
                               "are waiting"), note
        assert ledger.problem is None
        assert len(ledger.writer.pending()) == 3
        assert ledger.spent() > 0  # readable while locked (WAL), the waiting rows counted
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ledger.writer.drain(10)  # the lock freed: the waiting rows are written, in order
    assert [e.question for e in ledger.entries()] == ["one", "two", "three"]
    ledger.close()
    assert rows(path) == 3


def test_without_notify_it_is_one_python_warning(client, xai_server, tmp_path):
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"\x13garbage" * 1000)
    xai_server.enqueue(Reply(FIRST), Reply(SECOND))
    convo = Conversation(recorder=Recorder(Ledger(path)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = [convo.send(client, ask("one")).text, convo.send(client, ask("two")).text]
    assert answers == [FIRST, SECOND]
    assert [w.category for w in caught] == [LedgerWarning]
    assert_one_warning([str(caught[0].message)], path, "file is not a database")


# The writer of the read-only case: it drops root for `nobody` (root ignores file modes), then
# checks that it really cannot write the file before it makes its two exchanges.
READONLY_WRITER = r"""
import json, os, sys
import sqlite3  # noqa: F401 - the ledger imports it lazily; load it while it is still readable
import grok_magic.xai.price_list  # noqa: F401 - so is the price list kept beside a ledger

from grok_magic.xai.client import GrokClient
from grok_magic.ask import Ask
from grok_magic.conversation import Conversation
from grok_magic.ledger.store import Ledger
from grok_magic.xai.messages import user_message
from grok_magic.ledger.recorder import Recorder
from grok_magic.settings import Settings

path = sys.argv[1]
client = GrokClient(Settings.load())
# Warm up with no ledger, so every lazy import is done before the interpreter's files (under a
# root-only home) become unreadable.
Conversation(recorder=Recorder(None)).send(client, Ask(user_message(["warm up"]), "grok-4"))
if os.geteuid() == 0:
    try:
        os.setgroups([])
        os.setgid(int(sys.argv[2]))
        os.setuid(int(sys.argv[2]))
    except PermissionError as err:
        print(json.dumps({"skip": f"cannot drop root: {err}"}))
        sys.exit(0)
try:
    open(path, "r+b").close()
    refused = None
except OSError as err:
    refused = type(err).__name__
notes = []
ledger = Ledger(path, notify=notes.append, busy_timeout=0.2)
convo = Conversation(recorder=Recorder(ledger))
first = convo.send(client, Ask(user_message(["Question one"]), "grok-4", stream=False))
second = convo.stream(client, Ask(user_message(["Question two"]), "grok-4")).until_done()
print(json.dumps({"euid": os.geteuid(), "refused": refused, "problem": ledger.problem,
                  "answers": [first.text, second.text], "notes": notes,
                  "listed": [e.question for e in ledger.entries()]}))
"""


def child_env(srv, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XAI_", "GROK_"))}
    env.update(XAI_BASE_URL=srv.base_url, XAI_API_KEY=FAKE_KEY, GROK_LEDGER="off",
               HOME=str(home), PYTHONPATH=str(ROOT),
               PYTHONDONTWRITEBYTECODE="1", PYTHONWARNINGS="always")
    return env


def test_a_read_only_ledger_is_listed_says_so_once_and_stays_as_it_was(xai_env):
    # pytest's tmp_path is private to root; `nobody` needs to reach the file to be refused it.
    place = Path(tempfile.mkdtemp(prefix="grok-readonly-"))
    try:
        place.chmod(0o755)
        path = place / "ledger.sqlite"
        fresh_ledger(path)
        written = Ledger(path)
        for n in range(20):
            written.record(Entry(time=utc_now(), session="earlier", source="cell",
                                 request_hash=f"h{n}", request="{}", status="ok",
                                 question=f"Earlier question {n}", answer_key=f"live:{n}"))
        written.close()
        path.chmod(0o444)
        before = path.read_bytes()
        xai_env.enqueue(Reply("warm"), Reply(FIRST), Reply(SECOND))
        done = subprocess.run([sys.executable, "-c", READONLY_WRITER, str(path), str(NOBODY)],
                              capture_output=True, text=True, timeout=60, cwd=place,
                              env=child_env(xai_env, place))
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        report = json.loads(done.stdout)
        if "skip" in report:
            pytest.skip(report["skip"])
        assert report["euid"] != 0 and report["refused"] == "PermissionError"
        assert report["answers"] == [FIRST, SECOND]
        # Read and listed, simply not written to: one note says so, nothing went wrong.
        assert report["problem"] is None
        assert report["listed"] == [f"Earlier question {n}" for n in range(20)]
        [note] = report["notes"]
        assert note.startswith(f"The ledger {path} is read-only for this process"), note
        assert "not recorded" in note
        assert path.read_bytes() == before
        assert rows(path) == 20
    finally:
        shutil.rmtree(place, ignore_errors=True)


def test_a_ledger_from_a_newer_schema_is_refused_and_left_untouched(client, xai_server,
                                                                    tmp_path):
    path = tmp_path / "newer.sqlite"
    fresh_ledger(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    notes: list[str] = []
    ledger = Ledger(path, notify=notes.append)
    assert two_exchanges(client, xai_server, ledger) == [FIRST, SECOND]
    assert ledger.count() == 0 and ledger.entries() == []  # reading is refused as well
    ledger.close()
    assert_one_warning(notes, path, f"newer grok_magic (schema {SCHEMA_VERSION + 1}")
    assert path.read_bytes() == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT count(*) FROM exchanges").fetchone()[0] == 0
    conn.close()


# -- through the magic ---------------------------------------------------------------------------
@pytest.fixture
def ip(xai_env):
    """A real shell with freshly registered magics and a clean namespace."""
    shell_ = magic_shell(max_retries=2)
    yield shell_
    close_ledger(shell_)


def test_grok_cells_with_a_corrupt_ledger_show_their_answers_and_warn_once(ip, xai_env,
                                                                           tmp_path):
    path = tmp_path / "corrupt.sqlite"
    garbage = os.urandom(4096)
    path.write_bytes(garbage)
    config = run(ip, f'%config GrokMagics.ledger = "{path}"')
    assert config.error is None and ip.grok_magics.recorder.ledger.path == path
    xai_env.enqueue(Reply(FIRST), Reply(SECOND))
    cells = [run(ip, "%%grok\nQuestion one"), run(ip, "%%grok\nQuestion two")]
    assert [c.error for c in cells] == [None, None]
    assert FIRST.strip() in cells[0].shown() and SECOND.strip() in cells[1].shown()
    assert ip.user_ns["_grok"].text == SECOND
    stderr = config.stderr + "".join(c.stderr for c in cells)
    assert stderr.count(WARNING_START) == 1, stderr
    assert str(path) in stderr and "not recorded" in stderr
    assert WARNING_START in cells[0].stderr  # said when the first answer could not be written
    for outcome in (config, *cells):
        assert "Traceback" not in outcome.everything()
    assert len(xai_env.answer_requests) == 2
    assert path.read_bytes() == garbage


# -- several kernels at once ---------------------------------------------------------------------
WORKER = r"""
import json, sys

from grok_magic.xai.client import GrokClient
from grok_magic.ask import Ask
from grok_magic.conversation import Conversation
from grok_magic.ledger.store import Ledger
from grok_magic.xai.messages import user_message
from grok_magic.ledger.recorder import Recorder
from grok_magic.settings import Settings

path, worker, count, stream = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
client = GrokClient(Settings.load())
ledger = Ledger(path)  # no notify: a problem would be a LedgerWarning on stderr
recorder = Recorder(ledger)
convo = Conversation(max_history=0, recorder=recorder)
print("ready", flush=True)
sys.stdin.readline()  # every worker starts at once
for i in range(count):
    turn = Ask(user_message([f"worker {worker} question {i}"]), "grok-4", stream=stream)
    response = convo.stream(client, turn).until_done() if stream else convo.send(client, turn)
    assert response.complete, response
print(json.dumps({"session": recorder.session, "answers": convo.answers,
                  "problem": ledger.problem}), flush=True)
"""
WORKERS, EXCHANGES = 4, 100


def test_four_kernels_writing_at_once_lose_nothing(xai_env, tmp_path):
    path = tmp_path / "shared" / "ledger.sqlite"  # not there yet: the workers race to create it
    env = child_env(xai_env, tmp_path)
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(n), str(EXCHANGES),
                                 str(n % 2)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
               for n in range(WORKERS)]
    try:
        for worker in workers:
            assert worker.stdout.readline() == "ready\n", worker.stderr.read()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    elapsed = time.monotonic() - started
    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
        assert err == ""  # no LedgerWarning, no traceback, nothing
    reports = [json.loads(out) for out, _ in results]
    assert [r["answers"] for r in reports] == [EXCHANGES] * WORKERS
    assert [r["problem"] for r in reports] == [None] * WORKERS
    assert len(xai_env.answer_requests) == WORKERS * EXCHANGES

    ledger = Ledger(path)
    entries = ledger.entries()
    ledger.close()
    assert len(entries) == WORKERS * EXCHANGES
    assert {e.status for e in entries} == {"ok"}
    assert sorted(e.question for e in entries) == sorted(
        f"worker {n} question {i}" for n in range(WORKERS) for i in range(EXCHANGES))
    by_session: dict[str, list] = {}
    for e in entries:
        by_session.setdefault(e.session, []).append(e)
    assert sorted(by_session) == sorted(r["session"] for r in reports)
    for n, report in enumerate(reports):
        mine = by_session[report["session"]]
        assert [e.question for e in mine] == [f"worker {n} question {i}" for i in range(EXCHANGES)]
        assert all(e.answer and e.answer.startswith("**Stand-in answer**") for e in mine)
        assert all(e.total_tokens > 0 and e.cost for e in mine)
    assert len({e.id for e in entries}) == WORKERS * EXCHANGES
    switches = sum(a.session != b.session for a, b in zip(entries, entries[1:], strict=False))
    assert switches >= 10 * WORKERS, switches  # they really wrote at the same time
    assert elapsed < 60, f"{elapsed:.1f} s"


# -- the key never reaches the file --------------------------------------------------------------
def key_fragments() -> set[bytes]:
    lowered = FAKE_KEY.lower().encode()
    return {lowered[i : i + FRAGMENT] for i in range(len(lowered) - FRAGMENT + 1)}


def key_findings(path: Path) -> list[str]:
    """Where the key, or any FRAGMENT-long piece of it (any case), appears in the ledger's files."""
    found = []
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if not name.exists():
            continue
        data = name.read_bytes().lower()
        found += [f"{name.name}: {piece.decode()}" for piece in sorted(key_fragments())
                  if piece in data]
    return found


def test_the_key_is_in_no_byte_of_the_ledger(client, xai_server, tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    convo = Conversation(recorder=Recorder(ledger))
    split = f"{FAKE_KEY[:11]} {FAKE_KEY[11:]}"
    typed = [f"My key is {FAKE_KEY}, split it is {split}.",  # the stand-in echoes this back
             f"Upper case: {FAKE_KEY.upper()}"]
    for n, question in enumerate(typed):  # refused: a key typed into a question is never sent
        with pytest.raises(KeyInRequestError):
            convo.send(client, ask(question)) if n % 2 else convo.stream(
                client, ask(question, stream=True)).until_done()
    assert xai_server.answer_requests == []
    xai_server.enqueue(
        Reply(f"Your key is {FAKE_KEY}; its tail is {FAKE_KEY[-12:]}.",
              reasoning=f"The user pasted {FAKE_KEY}."),
        Reply(f"Streamed: {FAKE_KEY[:13]}", reasoning=f"again {FAKE_KEY}", chunk_chars=5),
        Fault(400, error_body(400, f"Incorrect API key provided: {FAKE_KEY}.")),
    )
    answered = [convo.send(client, ask("What is my key?")),
                convo.stream(client, ask("Say it streamed", stream=True)).until_done()]
    with pytest.raises(GrokError):
        convo.send(client, ask("And now?"))
    # The key was never sent, and it really was in what came back.
    sent = b"".join(r.body for r in xai_server.answer_requests)
    assert FAKE_KEY.encode() not in sent and FAKE_KEY.upper().encode() not in sent
    assert all("***" in r.text for r in answered)

    entries = ledger.entries()  # the refused questions left no row: they were never requests
    assert [e.status for e in entries] == ["ok", "ok", "error"]
    assert "***" in entries[0].answer and "***" in entries[0].reasoning
    assert "***" in entries[2].error
    assert key_findings(path) == []  # while the WAL holds the rows
    ledger.close()
    assert not Path(f"{path}-wal").exists()
    assert key_findings(path) == []  # once they are checkpointed into the file
    assert rows(path) == 3


def test_the_key_is_in_no_byte_of_the_ledger_even_in_citations_and_tool_calls(client,
                                                                               xai_server,
                                                                               tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    xai_server.enqueue(Reply("Sources below.", citations=[f"https://example.com/?k={FAKE_KEY}"],
                             tool_calls=[{"id": "call_1", "type": "function", "function": {
                                 "name": "lookup", "arguments": json.dumps({"key": FAKE_KEY})}}],
                             finish_reason="tool_calls"))
    Conversation(recorder=Recorder(ledger)).send(client, ask("Cite it"))
    ledger.close()
    assert rows(path) == 1
    assert key_findings(path) == []

"""Ledger costs (issue 11), each against a baseline measured in the same run.

1. Recording: a streamed 20 KB Markdown answer through Conversation with the ledger on, vs the
   same with `Recorder(None)`, interleaved over N exchanges (target: <= 5 ms added, median).
2. `%load_ext grok_magic` in fresh interpreters: this tree vs the tree just before the ledger
   (from git), and `-X importtime` for what the ledger modules cost; sqlite3 must not be loaded
   (target: unchanged, sqlite3 not imported).
3. A replayed 20 KB answer fully displayed: `%%grok --new` in a real InteractiveShell (displays
   captured), replay="auto" with the answer in the ledger, from the cell's start to its end; the
   baseline is the same cell answered live by the stand-in (target: <= 150 ms).
4. `%grok usage --all` and `%grok log 20` over a ledger of 100,000 rows (target: <= 200 ms).

The xAI stand-in (from tests/) runs in a child process, so it does not share the measured
interpreter's GIL.
Run: python -m bench.ledger [--exchanges 60] [--rows 100000] [--repeats 7] [--load-repeats 15]
Exits non-zero only on a crash; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from bench.standin_process import StandinProcess  # noqa: E402

MODEL = "grok-4-fast-non-reasoning"
ANSWER_CHARS = 20_000
LEDGER_MODULES = ("grok_magic.ledger.store", "grok_magic.ledger.recorder", "grok_magic.ledger.canonical",
                  "grok_magic.ledger.budget", "grok_magic.ledger.replay")
TARGETS = {"record": 5.0, "replay": 150.0, "usage": 200.0}  # ms


# -- the stand-in, in its own process (bench/standin_process.py) ---------------------------------
def replies(srv, command) -> int:
    """In the stand-in's process: queue `count` Replies of `text`."""
    from tests.support.xai_standin import Reply

    _, text, count = command
    srv.enqueue(*[Reply(text) for _ in range(count)])
    return srv.pending


class Server(StandinProcess):
    def __init__(self) -> None:
        super().__init__(replies)

    def queue(self, text: str, count: int) -> None:
        self.ask("reply", text, count)


def ms(seconds: float) -> float:
    return seconds * 1000


# -- 1. recording overhead ------------------------------------------------------------------------
def bench_record(server: Server, answer: str, exchanges: int, place: Path) -> dict:
    from grok_magic.ask import Ask
    from grok_magic.conversation import Conversation
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.ledger.store import Ledger
    from grok_magic.settings import Settings
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.messages import user_message
    from tests.support.xai_standin import FAKE_KEY

    client = GrokClient(Settings(api_key=FAKE_KEY, base_url=server.base_url))
    ledger = Ledger(place / "record.sqlite")
    on = Conversation(max_history=0, recorder=Recorder(ledger))
    off = Conversation(max_history=0, recorder=Recorder(None))
    writes: list[float] = []
    timed_write = on.recorder._write

    def write(*args, **kwargs):  # how long the ledger step itself takes, inside the "on" exchanges
        start = time.perf_counter()
        timed_write(*args, **kwargs)
        writes.append(time.perf_counter() - start)

    on.recorder._write = write

    def exchange(convo, n: int) -> float:
        start = time.perf_counter()
        response = convo.stream(client, Ask(user_message([f"Question {n}"]), MODEL)).until_done()
        elapsed = time.perf_counter() - start
        assert response.complete and len(response.text) == len(answer), response
        return elapsed

    warm = 5
    server.queue(answer, 2 * (exchanges + warm))
    for n in range(warm):
        exchange(on, -n - 1)
        exchange(off, -n - 1)
    writes.clear()
    times_on, times_off = [], []
    for n in range(exchanges):  # interleaved, alternating which goes first
        pair = (on, off) if n % 2 else (off, on)
        for convo in pair:
            (times_on if convo is on else times_off).append(exchange(convo, n))
    rows = ledger.count()
    ledger.close()
    assert rows == exchanges + warm, rows
    paired = [a - b for a, b in zip(times_on, times_off, strict=True)]
    return {"on": statistics.median(times_on), "off": statistics.median(times_off),
            "paired": statistics.median(paired), "write": statistics.median(writes),
            "rows": rows}


# -- 2. %load_ext in fresh interpreters -----------------------------------------------------------
LOAD = """
import sys, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t1 = time.perf_counter()
before = set(sys.modules)
ip.run_line_magic("load_ext", "grok_magic")
t2 = time.perf_counter()
new = set(sys.modules) - before
print(t2 - t1, int(bool({"sqlite3", "_sqlite3"} & new)), int("sqlite3" in before),
      int("grok_magic.ledger.store" in new))
"""
# Without IPython: the core a script imports to send through the ledger loads no sqlite3 either.
CORE = ("import sys; import grok_magic.conversation, grok_magic.ledger.recorder, grok_magic.ledger.store; "
        "print(int('sqlite3' in sys.modules))")


def tree_copy(source: Path, destination: Path) -> Path:
    """`source`'s grok_magic copied under `destination`, byte-compiled (both trees alike)."""
    shutil.copytree(source / "grok_magic", destination / "grok_magic",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(destination)], check=True)
    return destination


def pre_ledger_tree(place: Path) -> tuple[Path, str] | None:
    """grok_magic as it was just before the ledger was added (git archive), or None."""
    try:
        added = subprocess.run(
            ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--",
             "grok_magic/ledger.py"], capture_output=True, text=True, check=True).stdout.split()
        if not added:
            return None
        parent = f"{added[-1]}^"
        tree = place / "pre-ledger"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", parent, "grok_magic"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree)], check=True)
        short = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", parent],
                               capture_output=True, text=True, check=True).stdout.strip()
        return tree, short
    except (OSError, subprocess.CalledProcessError):
        return None


def load_once(tree: Path, importtime: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", LOAD]
    done = subprocess.run(args, capture_output=True, text=True, check=True, env=env, cwd=tree)
    seconds, sqlite_new, sqlite_before, ledger_new = done.stdout.split()
    ledger_us = 0
    if importtime:  # "import time: self [us] | cumulative | imported package"
        for line in done.stderr.splitlines():
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if len(parts) == 3 and parts[2] in LEDGER_MODULES:
                ledger_us += int(parts[0])
    return {"seconds": float(seconds), "sqlite_new": sqlite_new == "1",
            "sqlite_before": sqlite_before == "1", "ledger_new": ledger_new == "1",
            "ledger_self": ledger_us / 1e6}


def bench_load(place: Path, repeats: int) -> dict:
    before = pre_ledger_tree(place)
    trees = {"now": tree_copy(ROOT, place / "now")}
    if before is not None:
        trees["before"] = before[0]
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(repeats):  # interleaved so machine noise hits both alike
        for name, tree in trees.items():
            runs[name].append(load_once(tree))
    now = runs["now"]
    core = subprocess.run([sys.executable, "-c", CORE], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(trees["now"])}).stdout.strip()
    importtime = [load_once(trees["now"], importtime=True)["ledger_self"] for _ in range(repeats)]
    return {"now": statistics.median(r["seconds"] for r in now),
            "before": statistics.median(r["seconds"] for r in runs["before"]) if before else None,
            "before_commit": before[1] if before else None,
            "sqlite_new": any(r["sqlite_new"] for r in now),
            "sqlite_before": all(r["sqlite_before"] for r in now),
            "ledger_new": all(r["ledger_new"] for r in now), "core_sqlite": core == "1",
            "ledger_self": statistics.median(importtime)}


# -- 3. and 4. in a real shell --------------------------------------------------------------------
def make_shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False  # IPython's own SQLite history stays out of it
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "grok_magic")
    ip.run_line_magic("config", "GrokMagics.show_usage = False")
    return ip


def run_cell(ip, source: str) -> tuple[float, object]:
    """Seconds from starting the cell to its end, displays captured (as a front end gets them)."""
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        start = time.perf_counter()
        result = ip.run_cell(source)
        elapsed = time.perf_counter() - start
    error = result.error_in_exec or result.error_before_exec
    if error is not None:
        raise RuntimeError(f"cell failed: {error!r}\n{captured.stderr}")
    return elapsed, captured


def shown_text(captured) -> str:
    """What the front end ends up showing (display updates applied), as text."""
    from tests.support.magic_helpers import Outcome

    outcome = Outcome(None, captured.stdout, captured.stderr, list(captured.outputs))
    return outcome.shown() + "\n" + outcome.plain()


def bench_replay(ip, server: Server, answer: str, place: Path, repeats: int) -> dict:
    from grok_magic.ledger.store import Ledger

    path = place / "replay.sqlite"
    cell = "%%grok --new -q\nWrite the long answer, please."
    ip.run_line_magic("config", f'GrokMagics.ledger = "{path}"')
    ip.run_line_magic("config", 'GrokMagics.replay = "off"')
    server.queue(answer, repeats + 2)
    live = [run_cell(ip, cell)[0] for _ in range(repeats + 1)][1:]  # the first one warms up
    ip.run_line_magic("config", 'GrokMagics.replay = "auto"')
    last_part = answer.rsplit("## Part ", 1)[1].split()[0]
    replayed = []
    for _ in range(repeats + 1):
        seconds, captured = run_cell(ip, cell)
        assert ip.user_ns["_grok"].replayed and ip.user_ns["_grok"].text == answer
        shown = shown_text(captured)
        assert "Part 1\n" in shown and f"Part {last_part}" in shown, shown[-300:]
        replayed.append(seconds)
    rows = Ledger(path).count()
    assert rows == repeats + 1, rows  # the live ones; replays are not recorded again
    return {"live": statistics.median(live), "replay": statistics.median(replayed[1:]),
            "replay_first": replayed[0]}


def fill_ledger(path: Path, count: int) -> float:
    """`count` plausible exchanges over the last 30 days, written with executemany."""
    from grok_magic.ledger.canonical import Canonical
    from grok_magic.ledger.store import COLUMNS, Entry, Ledger, iso

    ledger = Ledger(path)
    assert ledger.count() == 0
    ledger.close()
    rng = random.Random(11)
    models = ("grok-4.3", "grok-4-fast-non-reasoning", "grok-3-mini", "grok-code-fast-1",
              "grok-2-vision-1212")
    words = ("ledger", "replay", "budget", "answer", "question", "model", "token", "kernel",
             "notebook", "lesson", "pandas", "plot", "error", "fix", "explain", "data")
    now = time.time()
    sessions = [f"{rng.getrandbits(128):032x}" for _ in range(200)]

    def rows():
        for n in range(count):
            model = models[n % len(models)]
            question = " ".join(rng.choices(words, k=rng.randint(5, 25)))
            answer = " ".join(rng.choices(words, k=rng.randint(40, 300)))
            request = {"model": model, "messages": [{"role": "user", "content": question}]}
            prompt, completion = rng.randint(20, 4000), rng.randint(50, 2000)
            reasoning = rng.randint(0, 800) if "mini" in model or model == "grok-4.3" else 0
            when = datetime.fromtimestamp(now - rng.random() * 30 * 86400, timezone.utc)
            values = {
                "time": iso(when), "session": sessions[n % 200],
                "source": "cell", "request_hash": Canonical.of(request).hash,
                "request": Canonical.of(request).text, "status": "ok" if n % 50 else "error",
                "api": "chat", "endpoint": "/chat/completions", "notebook": f"lesson{n % 7}.ipynb",
                "cell": n % 300, "model_asked": model, "model_served": model,
                "question": question, "answer": answer, "finish_reason": "stop",
                "prompt_tokens": prompt, "completion_tokens": completion,
                "reasoning_tokens": reasoning, "total_tokens": prompt + completion + reasoning,
                "cost": (prompt * 2 + completion * 5) / 1e7, "request_id": f"req-{n}",
                "first_token_s": rng.random(), "total_s": 1 + rng.random() * 5,
                "error": None if n % 50 else "Server error: try again",
                "answer_key": f"live:{n}",
            }
            entry = Entry(**values)  # the dataclass's defaults fill the other columns
            yield tuple(getattr(entry, c) for c in COLUMNS)

    start = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO exchanges ({', '.join(COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(COLUMNS))})", rows())
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


def bench_reports(ip, place: Path, count: int, repeats: int) -> dict:
    from grok_magic.ledger.store import Ledger

    path = place / "big.sqlite"
    filled = fill_ledger(path, count)
    assert Ledger(path).count() == count
    ip.run_line_magic("config", 'GrokMagics.replay = "off"')
    ip.run_line_magic("config", f'GrokMagics.ledger = "{path}"')
    results = {"filled": filled, "size": path.stat().st_size}
    for name, line, expect in (
            ("usage", "%grok usage --all", f"{count - (count + 49) // 50:,}"),  # 1 in 50 failed
            ("log", "%grok log 20", f"Last 20 of {count:,} exchanges"),
            ("usage_week", "%grok usage --week", "Usage the last 7 days")):
        first, captured = run_cell(ip, line)
        text = shown_text(captured)
        assert expect in text, text[:500]
        times = [run_cell(ip, line)[0] for _ in range(repeats)]
        results[name] = statistics.median(times)
        results[f"{name}_first"] = first
    # The baseline: the same aggregate as bare SQL, on a fresh connection each time.
    sql = ("SELECT coalesce(model_served, model_asked, '?'), sum(status = 'ok'), "
           "sum(status = 'error'), sum(status IN ('stopped', 'incomplete')), sum(prompt_tokens), "
           "sum(completion_tokens), sum(reasoning_tokens), coalesce(sum(cost), 0), "
           "sum(cost_exact = 0 AND cost IS NOT NULL) FROM exchanges GROUP BY 1 ORDER BY 8 DESC, 1")
    bare = []
    for _ in range(repeats):
        start = time.perf_counter()
        conn = sqlite3.connect(path)
        conn.execute(sql).fetchall()
        conn.close()
        bare.append(time.perf_counter() - start)
    results["bare_sql"] = statistics.median(bare)
    return results


# -- report -----------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=60)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--load-repeats", type=int, default=15,
                        help="fresh interpreters per tree for %%load_ext (it is noisy)")
    args = parser.parse_args()

    from tests.support.kernel_helpers import long_answer
    from tests.support.xai_standin import FAKE_KEY

    answer = long_answer(ANSWER_CHARS)
    place = Path(tempfile.mkdtemp(prefix="grok-bench-ledger-"))
    saved = {k: os.environ.get(k) for k in ("XAI_API_KEY", "XAI_BASE_URL", "GROK_LEDGER",
                                            "GROK_REPLAY", "HOME")}
    server = Server()
    try:
        os.environ.update(XAI_API_KEY=FAKE_KEY, XAI_BASE_URL=server.base_url, HOME=str(place),
                          GROK_LEDGER=str(place / "default.sqlite"))
        os.environ.pop("GROK_REPLAY", None)
        record = bench_record(server, answer, args.exchanges, place)
        load = bench_load(place, args.load_repeats)
        ip = make_shell()
        replay = bench_replay(ip, server, answer, place, args.repeats)
        reports = bench_reports(ip, place, args.rows, args.repeats)
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(place, ignore_errors=True)

    added = ms(record["paired"])
    print(f"answer: {len(answer):,} characters of Markdown, streamed; {args.exchanges} exchanges "
          f"each way; ledger of {args.rows:,} rows ({reports['size'] / 1e6:.0f} MB, filled in "
          f"{reports['filled']:.1f} s); medians")
    print(f"{'measure':44} {'value':>11} {'baseline':>11} {'ratio':>7}  target")
    rows = [
        ("exchange, ledger on vs Recorder(None)", ms(record["on"]), ms(record["off"]),
         f"added {added:.2f} ms (paired), ledger write {ms(record['write']):.2f} ms; "
         f"<= {TARGETS['record']:g} ms {verdict(added <= TARGETS['record'])}"),
    ]
    if load["before"] is not None:
        change = ms(load["now"] - load["before"])
        rows.append((f"%load_ext grok_magic vs {load['before_commit']} (no ledger)",
                     ms(load["now"]), ms(load["before"]),
                     f"{change:+.1f} ms; unchanged (<= +5 ms) {verdict(change <= 5)}"))
    else:
        rows.append(("%load_ext grok_magic (no pre-ledger tree)", ms(load["now"]), None, "-"))
    no_sqlite = not load["sqlite_new"] and not load["core_sqlite"]
    lazy = "not imported by %load_ext (loaded on the first exchange)" if not load[
        "ledger_new"] else f"imported by %load_ext: {ms(load['ledger_self']):.1f} ms"
    rows.append(("  the ledger modules", ms(load["ledger_self"]) if load["ledger_new"] else 0.0,
                 None, f"{lazy}; sqlite3 imported by %load_ext: "
                 f"{'yes' if load['sqlite_new'] else 'no'}"
                 f"{' (IPython had loaded it)' if load['sqlite_before'] else ''}, by the core: "
                 f"{'yes' if load['core_sqlite'] else 'no'} {verdict(no_sqlite)}"))
    rows.append(("%%grok 20 KB replayed vs answered live", ms(replay["replay"]), ms(replay["live"]),
                 f"first replay {ms(replay['replay_first']):.1f} ms; <= {TARGETS['replay']:g} ms "
                 f"{verdict(replay['replay'] <= TARGETS['replay'])}"))
    rows.append((f"%grok usage --all, {args.rows:,} rows vs bare SQL", ms(reports["usage"]),
                 ms(reports["bare_sql"]),
                 f"first {ms(reports['usage_first']):.1f} ms; <= {TARGETS['usage']:g} ms "
                 f"{verdict(reports['usage'] <= TARGETS['usage'])}"))
    rows.append(("%grok usage --week", ms(reports["usage_week"]), None,
                 f"first {ms(reports['usage_week_first']):.1f} ms"))
    rows.append(("%grok log 20", ms(reports["log"]), None,
                 f"first {ms(reports['log_first']):.1f} ms"))
    for name, value, base, note in rows:
        ratio = f"{value / base:6.2f}x" if base else "      -"
        base_text = f"{base:8.1f} ms" if base is not None else f"{'-':>11}"
        print(f"{name:44} {value:8.1f} ms {base_text} {ratio}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Budget overshoot (issue 19): how many answers a `daily_budget` lets through, at concurrency 1,
8 and 32 in one kernel and with two kernels (processes) x 16 workers on one ledger, against how
many fit (the budget divided by one answer's cost, measured in the same run). Also the wall time
of each run against the same run with no budget (the cost of reserving in the ledger).

Target: overshoot <= 1 answer at every concurrency (issue 19 measured +1, +7, +25 and +29 answers
on main 527f3cf for these four cases).
Run: python -m bench.budget [--fit 18] [--latency 0.2]
Exits non-zero only on a crash; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from bench.standin_process import StandinProcess  # noqa: E402

ITEMS = [f"item {i:03d}" for i in range(200)]
WORKER = r"""
import json, sys
from grok_magic.xai.client import GrokClient
from grok_magic import ask_each
from grok_magic.ledger.store import Ledger
from grok_magic.ledger.recorder import Recorder
from grok_magic.settings import Settings

budget, concurrency, first, count, path = sys.argv[1:6]
recorder = Recorder(Ledger(path), daily_budget=None if budget == "none" else float(budget))
items = [f"item {i:03d}" for i in range(int(first), int(first) + int(count))]
table = ask_each("Label {item}", items, client=GrokClient(Settings.load()), recorder=recorder,
                 concurrency=int(concurrency))
print(json.dumps({"answered": int(table["error"].isna().sum())}))
"""


def handle(srv, command):
    if command[0] == "latency":
        srv.latency = command[1]
    return None


def run(base_url: str, ledger: Path, budget: float | None, concurrency: int, kernels: int,
        count: int) -> tuple[int, float, float]:
    """Answers let through, USD spent (from the ledger), seconds."""
    env = dict(os.environ, XAI_BASE_URL=base_url, XAI_API_KEY="xai-fake-0123456789abcdef",
               GROK_LEDGER=str(ledger))
    started = time.monotonic()
    workers = [subprocess.Popen(
        [sys.executable, "-c", WORKER, "none" if budget is None else repr(budget),
         str(concurrency), str(n * count), str(count), str(ledger)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(kernels)]
    answered = 0
    for w in workers:
        out, err = w.communicate(timeout=600)
        if w.returncode != 0:
            raise SystemExit(err)
        answered += json.loads(out.splitlines()[-1])["answered"]
    seconds = time.monotonic() - started
    import sqlite3

    conn = sqlite3.connect(ledger)
    spent = conn.execute("SELECT coalesce(sum(cost), 0) FROM exchanges").fetchone()[0]
    conn.close()
    return answered, spent, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fit", type=int, default=18, help="answers the budget has room for")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    args = parser.parse_args()
    srv = StandinProcess(handle)
    place = Path(tempfile.mkdtemp(prefix="grok-bench-budget-"))
    try:
        one, cost, _ = run(srv.base_url, place / "calibrate.sqlite", None, 1, 1, 1)
        assert one == 1
        budget = (args.fit + 0.5) * cost
        srv.ask("latency", args.latency)
        print(f"one answer costs ${cost:.6f}; daily_budget ${budget:.6f} has room for "
              f"{args.fit} answers (and half of one more); answers take {args.latency} s")
        print(f"{'run':<22}{'answered':>9}{'fit':>5}{'overshoot':>11}{'spent/budget':>14}"
              f"{'time':>8}{'no budget':>11}{'ratio':>7}   target")
        for concurrency, kernels in ((1, 1), (8, 1), (32, 1), (16, 2)):
            count = 60 if kernels == 1 else 40
            name = f"{kernels} kernel{'s' if kernels > 1 else ''} x {concurrency}"
            tag = f"{kernels}x{concurrency}"
            answered, spent, seconds = run(srv.base_url, place / f"b-{tag}.sqlite", budget,
                                           concurrency, kernels, count)
            free = run(srv.base_url, place / f"f-{tag}.sqlite", None, concurrency, kernels,
                       math.ceil((args.fit + 1) / kernels))[2]
            over = answered - args.fit
            verdict = "ok" if over <= 1 and spent <= budget + cost * 1.001 else "MISSED"
            print(f"{name:<22}{answered:>9}{args.fit:>5}{over:>+11}{spent / budget:>14.3f}"
                  f"{seconds:>7.2f}s{free:>10.2f}s{seconds / free:>7.2f}   <= 1 answer: {verdict}")
        print("(no budget: the same runs sending only as many items as fit, unlimited)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()

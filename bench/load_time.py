"""%load_ext grok_magic: time added over a bare IPython start (target ≤ 100 ms), same run.

Each measurement is a fresh interpreter. Baseline: start an InteractiveShell. Candidate: the same
plus `%load_ext grok_magic`. Peer (if installed): the same plus `%load_ext jupyter_ai_magics`.
Run: python bench/load_time.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys

REPEATS = 7
SCRIPT = """
import time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t1 = time.perf_counter()
{load}
t2 = time.perf_counter()
import sys
heavy = sorted(m for m in ("requests", "PIL", "ipywidgets", "nh3", "numpy") if m in sys.modules)
print(t1 - t0, t2 - t1, ",".join(heavy))
"""


def measure(load: str) -> tuple[float, float, str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(load=load)], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), (out[2] if len(out) > 2 else "")


def available(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main() -> None:
    candidates = {"bare IPython": "pass",
                  "%load_ext grok_magic": "ip.run_line_magic('load_ext', 'grok_magic')"}
    if available("jupyter_ai_magics"):
        candidates["%load_ext jupyter_ai_magics"] = "ip.run_line_magic('load_ext', 'jupyter_ai_magics')"
    results: dict[str, list[float]] = {name: [] for name in candidates}
    starts: list[float] = []
    heavy: dict[str, str] = {}
    for _ in range(REPEATS):  # interleaved so that machine noise hits all alike
        for name, load in candidates.items():
            start, extra, loaded = measure(load)
            starts.append(start)
            results[name].append(extra)
            heavy[name] = loaded
    base_start = statistics.median(starts)
    print(f"bare IPython start (median of {len(starts)}): {base_start * 1000:.1f} ms")
    print(f"{'':30} {'added ms':>9} {'ratio to start':>15}  heavy modules imported")
    for name, values in results.items():
        added = statistics.median(values)
        print(f"{name:30} {added * 1000:9.1f} {(base_start + added) / base_start:14.2f}x  "
              f"{heavy[name] or '-'}")
    added = statistics.median(results["%load_ext grok_magic"]) * 1000
    print(f"target: grok_magic adds <= 100 ms -> {'OK' if added <= 100 else 'MISSED'} ({added:.1f} ms)")
    if "%load_ext jupyter_ai_magics" not in results:
        print("jupyter_ai_magics is not installed here; peer comparison skipped")


if __name__ == "__main__":
    main()

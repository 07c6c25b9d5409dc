"""%load_ext grok_magic: time added over a bare IPython start (target ≤ 100 ms), same run.

Each measurement is a fresh interpreter. Baseline: start an InteractiveShell. Candidate: the same
plus `%load_ext grok_magic`. Peer: the same plus `%load_ext jupyter_ai_magics`, in this interpreter
if it has jupyter_ai_magics, else in the one named by PEER_PYTHON (e.g. a venv made with
`python -m venv /tmp/jai && /tmp/jai/bin/pip install jupyter-ai-magics`), against that
interpreter's own bare IPython start.
Run: python bench/load_time.py   (or PEER_PYTHON=/tmp/jai/bin/python python bench/load_time.py)
"""

from __future__ import annotations

import os
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


def measure(python: str, load: str) -> tuple[float, float, str]:
    out = subprocess.run([python, "-c", SCRIPT.format(load=load)], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), (out[2] if len(out) > 2 else "")


def available(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def main() -> None:
    here = sys.executable
    candidates = {"bare IPython": (here, "pass"),
                  "%load_ext grok_magic": (here, "ip.run_line_magic('load_ext', 'grok_magic')")}
    peer = here if available(here, "jupyter_ai_magics") else os.environ.get("PEER_PYTHON")
    if peer and available(peer, "jupyter_ai_magics"):
        if peer != here:
            candidates["bare IPython (peer env)"] = (peer, "pass")
        candidates["%load_ext jupyter_ai_magics"] = (
            peer, "ip.run_line_magic('load_ext', 'jupyter_ai_magics')")
    results: dict[str, list[float]] = {name: [] for name in candidates}
    starts: dict[str, list[float]] = {name: [] for name in candidates}
    heavy: dict[str, str] = {}
    for _ in range(REPEATS):  # interleaved so that machine noise hits all alike
        for name, (python, load) in candidates.items():
            start, extra, loaded = measure(python, load)
            starts[name].append(start)
            results[name].append(extra)
            heavy[name] = loaded
    print(f"{'':30} {'start ms':>9} {'added ms':>9} {'start+load / start':>19}  heavy modules")
    for name, values in results.items():
        start, added = statistics.median(starts[name]), statistics.median(values)
        print(f"{name:30} {start * 1000:9.1f} {added * 1000:9.1f} {(start + added) / start:18.2f}x  "
              f"{heavy[name] or '-'}")
    added = statistics.median(results["%load_ext grok_magic"]) * 1000
    print(f"target: grok_magic adds <= 100 ms -> {'OK' if added <= 100 else 'MISSED'} ({added:.1f} ms)")
    if "%load_ext jupyter_ai_magics" in results:
        peer_added = statistics.median(results["%load_ext jupyter_ai_magics"]) * 1000
        print(f"jupyter_ai_magics adds {peer_added:.0f} ms: grok_magic loads "
              f"{peer_added / max(added, 0.1):.0f}x faster")
    else:
        print("jupyter_ai_magics not available (set PEER_PYTHON); peer comparison skipped")


if __name__ == "__main__":
    main()

"""%load_ext grok_magic: time added over a bare IPython start (target ≤ 20 ms), same run, and
the imports the first cell then adds (a `%%grok --dry-run` cell: client, renderer, images, ledger).

Each measurement is a fresh interpreter. Baseline: start an InteractiveShell. Candidate: the same
plus `%load_ext grok_magic`. Peer: the same plus `%load_ext jupyter_ai_magics`, in this interpreter
if it has jupyter_ai_magics, else in the one named by PEER_PYTHON (e.g. a venv made with
`python -m venv /tmp/jai && /tmp/jai/bin/pip install jupyter-ai-magics`), against that
interpreter's own bare IPython start.
Run: python -m bench.load_time   (or PEER_PYTHON=/tmp/jai/bin/python python -m bench.load_time)
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
first = 0.0
if {first_cell}:
    import contextlib, io, os
    os.environ.update(XAI_API_KEY="xai-0123456789abcdefBENCH", GROK_LEDGER="off")
    t3 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        ip.run_cell_magic("grok", "--dry-run", "Hello")
    first = time.perf_counter() - t3
print(t1 - t0, t2 - t1, first, ",".join(heavy) or "-")
"""


def measure(python: str, load: str, first_cell: bool = False) -> tuple[float, float, float, str]:
    script = SCRIPT.format(load=load, first_cell=first_cell)
    out = subprocess.run([python, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), out[3].replace("-", "")


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
    first_cells: list[float] = []
    for _ in range(REPEATS):  # interleaved so that machine noise hits all alike
        for name, (python, load) in candidates.items():
            grok = name == "%load_ext grok_magic"
            start, extra, first, loaded = measure(python, load, first_cell=grok)
            if grok:
                first_cells.append(first)
            starts[name].append(start)
            results[name].append(extra)
            heavy[name] = loaded
    print(f"{'':30} {'start ms':>9} {'added ms':>9} {'start+load / start':>19}  heavy modules")
    for name, values in results.items():
        start, added = statistics.median(starts[name]), statistics.median(values)
        print(f"{name:30} {start * 1000:9.1f} {added * 1000:9.1f} {(start + added) / start:18.2f}x  "
              f"{heavy[name] or '-'}")
    added = statistics.median(results["%load_ext grok_magic"]) * 1000
    print(f"target: grok_magic adds <= 20 ms -> {'OK' if added <= 20 else 'MISSED'} ({added:.1f} ms)")
    print(f"the first cell (%%grok --dry-run) then takes {statistics.median(first_cells) * 1000:.0f} ms"
          " (its imports: client, renderer, images, ledger)")
    if "%load_ext jupyter_ai_magics" in results:
        peer_added = statistics.median(results["%load_ext jupyter_ai_magics"]) * 1000
        print(f"jupyter_ai_magics adds {peer_added:.0f} ms: grok_magic loads "
              f"{peer_added / max(added, 0.1):.0f}x faster")
    else:
        print("jupyter_ai_magics not available (set PEER_PYTHON); peer comparison skipped")


if __name__ == "__main__":
    main()

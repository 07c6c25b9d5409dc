"""Memory per cell (issue 19): 2,000 %%grok cells against the stand-in vs 2,000 plain cells, same run.

One shell runs, after a warm-up of both kinds, N plain cells (`x = "Question …"`) and then N `%%grok`
cells (the stand-in's answer, the usage widget, the ledger on, in a temporary file); around each
run a probe cell reports the process's RSS (/proc/self/status VmRSS), the Python heap as
tracemalloc sees it (started before the warm-up), live ipywidgets and open comms.
  in-process  — IPython's InteractiveShell; every display is JSON-encoded, as a kernel sends it,
                then dropped (default);
  --kernel    — a real ipykernel driven by jupyter_client, as a notebook runs it (slower).
Target: a %%grok cell keeps <= 1 KB more than a plain cell (tracemalloc and RSS), and no widget or
comm per cell. The xAI stand-in (tests/) runs in its own process. Run: python -m bench.cell_memory
[--cells 2000] [--warmup 200] [--kernel] [--no-ledger]. Exits non-zero only on a crash; a missed target prints
MISSED.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from bench.standin_process import StandinProcess  # noqa: E402

TARGET_KB = 1.0  # per cell, more than a plain cell
QUESTION = "Question {n}: what is six times seven?"
PLAIN = f'x = "{QUESTION}"'  # a plain cell of the same text: IPython keeps each cell's source
GROK = f"%%grok\n{QUESTION}"
SETUP = "import tracemalloc; tracemalloc.start(); x = 0"
PROBE = """
import gc as _gc, json as _json, tracemalloc as _tm, comm as _comm, ipywidgets as _w
_gc.collect()
with open("/proc/self/status") as _f:
    _rss = next(int(_l.split()[1]) for _l in _f if _l.startswith("VmRSS:"))
print(_json.dumps({"rss_kb": _rss, "traced": _tm.get_traced_memory()[0],
                   "widgets": len(_w.widgets.widget._instances),
                   "comms": len(_comm.get_comm_manager().comms)}))
"""


def nothing(srv, command):
    """In the stand-in's process: no commands (every answer is its default one)."""
    return None


class InProcess:
    """IPython's InteractiveShell in this process; displays encoded as a kernel would, then dropped."""

    name = "in-process InteractiveShell"

    def __init__(self) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()

        def publish(data, metadata=None, *args, transient=None, update=False, **kwargs) -> None:
            json.dumps({"data": data, "metadata": metadata or {}, "transient": transient or {}})

        self.shell.display_pub.publish = publish

    def run(self, source: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = self.shell.run_cell(source, store_history=True)
        if not result.success:
            raise RuntimeError(f"cell failed: {source!r}: {result.error_in_exec!r}")
        return out.getvalue()

    def close(self) -> None:
        pass


class Kernel:
    """A real ipykernel (jupyter_client), one cell at a time, as a notebook front end runs it."""

    name = "real ipykernel"

    def __init__(self) -> None:
        from tests.support.kernel_helpers import LiveKernel

        self.kernel = LiveKernel()

    def run(self, source: str) -> str:
        cell = self.kernel.run(source, timeout=120)
        if cell.status != "ok":
            raise RuntimeError(f"cell failed: {source!r}: {cell.text()}")
        return "".join(m["content"].get("text", "") for m in cell.outputs
                       if m["msg_type"] == "stream" and m["content"].get("name") == "stdout")

    def close(self) -> None:
        self.kernel.close()


def probe(shell) -> dict:
    return json.loads(shell.run(PROBE).strip().splitlines()[-1])


def phase(shell, template: str, cells: int) -> dict:
    """Memory kept by `cells` cells of `template`, per cell (and RSS per cell by quarter, which
    tells bounded caches filling from growth that goes on)."""
    probes = [probe(shell)]
    for n in range(cells):
        shell.run(template.format(n=n))
        if (n + 1) % (cells // 4 or 1) == 0 and n + 1 < cells:
            probes.append(probe(shell))
    probes.append(probe(shell))
    before, after = probes[0], probes[-1]
    step = cells / (len(probes) - 1)
    return {"rss": (after["rss_kb"] - before["rss_kb"]) / cells,
            "traced": (after["traced"] - before["traced"]) / 1024 / cells,
            "widgets": after["widgets"] - before["widgets"],
            "comms": after["comms"] - before["comms"],
            "rss_mb": (before["rss_kb"] / 1024, after["rss_kb"] / 1024),
            "quarters": [(b["rss_kb"] - a["rss_kb"]) / step for a, b in pairwise(probes)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--kernel", action="store_true", help="a real ipykernel")
    parser.add_argument("--no-ledger", action="store_true", help="GROK_LEDGER=off")
    args = parser.parse_args()

    from tests.support.xai_standin import FAKE_KEY

    place = Path(tempfile.mkdtemp(prefix="grok-cell-memory-"))
    server = StandinProcess(nothing)
    os.environ.update(XAI_BASE_URL=server.base_url, XAI_API_KEY=FAKE_KEY,
                      GROK_LEDGER="off" if args.no_ledger else str(place / "ledger.sqlite"),
                      IPYTHONDIR=str(place / "ipython"))
    shell = Kernel() if args.kernel else InProcess()
    try:
        shell.run(SETUP)
        shell.run("%load_ext grok_magic")
        for n in range(args.warmup):
            shell.run(GROK.format(n=n))
            shell.run(PLAIN)
        plain = phase(shell, PLAIN, args.cells)
        grok = phase(shell, GROK, args.cells)
    finally:
        shell.close()
        server.stop()

    print(f"{args.cells:,} cells of each kind after {args.warmup:,} warm-up cells of each, in a "
          f"{shell.name} (ledger {'off' if args.no_ledger else 'on'}, tracemalloc on)")
    print(f"{'cell':14} {'RSS KB/cell':>12} {'traced KB/cell':>15} {'widgets +':>10} {'comms +':>8} "
          f"{'RSS MB before -> after':>24}")
    for name, r in (("plain", plain), ("%%grok", grok)):
        print(f"{name:14} {r['rss']:12.2f} {r['traced']:15.2f} {r['widgets']:10,} {r['comms']:8,} "
              f"{r['rss_mb'][0]:13.1f} -> {r['rss_mb'][1]:.1f}")
    extra_rss, extra_traced = grok["rss"] - plain["rss"], grok["traced"] - plain["traced"]
    print(f"{'%%grok - plain':14} {extra_rss:12.2f} {extra_traced:15.2f}")
    for name, r in (("plain", plain), ("%%grok", grok)):
        print(f"RSS KB/cell by quarter, {name}: " + " · ".join(f"{q:.2f}" for q in r["quarters"]))
    met = (extra_rss <= TARGET_KB and extra_traced <= TARGET_KB
           and grok["widgets"] <= 0 and grok["comms"] <= 0)
    print(f"target: a %%grok cell keeps <= {TARGET_KB:.1f} KB more than a plain cell (RSS and "
          f"traced) and no widget or comm: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()

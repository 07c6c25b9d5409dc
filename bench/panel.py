"""Cost of a streamed answer in the chat panel vs the %%grok display: kernel CPU and front-end traffic.

One real kernel (nbclient) runs, interleaved and repeated, the same streams from the local
stand-in — "burst": a 20 KB Markdown answer in 5,000 chunks in ~3 s; "typical": a 6 KB answer
at ~300 characters a second (4-character chunks, ~20 s, about Grok's pace) — shown three ways:
  %%grok        — the cell magic (finished blocks fixed, tail updated ~10/s, usage widget);
  panel         — ChatPanel.send() (worker thread; finished blocks frozen in their own Output
                  widgets, tail updated ~10/s; user turn, usage widget and totals);
  naive widget  — the baseline: one Output widget re-sent whole ~10 times a second, rendered by
                  the same safe renderer (grok_magic.safety.markdown.render_html) as text/html.
Kernel CPU is resource.getrusage(RUSAGE_SELF) (all kernel threads) around the work, inside the
kernel; every iopub display_data / update_display_data / comm_open / comm_msg of the cell is
counted with its JSON size. Run: python -m bench.panel [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from tests.support.kernel_helpers import long_answer, run_cells  # noqa: E402
from tests.support.xai_standin import FAKE_KEY, Reply, XaiStandin  # noqa: E402

SCENARIOS = {  # name: (answer characters, chunks, seconds between chunks)
    "burst": (20_000, 5000, 0.0006),
    "typical": (6_000, 1500, 0.0133),
}
COUNTED = ("display_data", "update_display_data", "comm_open", "comm_msg")

SETUP = """
import json, resource, time
import ipywidgets as widgets
from grok_magic import ChatPanel
from grok_magic.xai.client import GrokClient
from grok_magic.safety.markdown import render_html

def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

panel = ChatPanel(models=["grok-4"])
panel
"""

MEASURED = """
_c0, _t0 = _cpu(), time.monotonic()
{body}
print("BENCH " + json.dumps({{"cpu": _cpu() - _c0, "wall": time.monotonic() - _t0}}))
"""

BODIES = {
    "%%grok": 'get_ipython().run_cell_magic("grok", "-n", "Write a long answer")',
    "panel": 'panel.send("Write a long answer")',
    "naive widget": """
out = widgets.Output()
display(out)
stream = GrokClient.from_env().stream({"model": "grok-4", "messages": [{"role": "user", "content": "go"}]})
text, last = "", 0.0
def show(plain=None):
    data = {"text/html": render_html(text)}
    if plain is not None:
        data["text/plain"] = plain
    out.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)
for delta in stream:
    text += delta.content
    now = time.monotonic()
    if now - last >= 0.1:
        last = now
        show()
show(text)
""",
}


def summarise(messages) -> dict:
    counted = [m for m in messages if m.type in COUNTED]
    stats = next(json.loads(m.content["text"].split("BENCH ", 1)[1])
                 for m in messages if m.type == "stream" and "BENCH " in m.content.get("text", ""))
    return {
        "cpu": stats["cpu"],
        "wall": stats["wall"],
        "messages": len(counted),
        "bytes": sum(m.nbytes for m in counted),
        "by_type": {t: sum(1 for m in counted if m.type == t) for t in COUNTED},
    }


def report(scenario: str, results: dict[str, list[dict]], size: int) -> None:
    chars, chunks, delay = SCENARIOS[scenario]
    names = list(BODIES)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\n{scenario}: {size:,} characters in {chunks:,} chunks over ~{chunks * delay:.0f} s "
          f"(median of {len(results['panel'])} runs)")
    print(f"{'per streamed answer':24}" + "".join(f"{n:>14}" for n in names)
          + f"{'panel/%%grok':>14}{'panel/naive':>14}")
    rows = [("kernel CPU (s)", "cpu", "{:.3f}"), ("wall (s)", "wall", "{:.2f}"),
            ("front-end messages", "messages", "{:,.0f}"), ("front-end bytes", "bytes", "{:,.0f}")]
    for label, key, fmt in rows:
        values = [median(n, key) for n in names]
        ratio = median("panel", key) / median("%%grok", key)
        naive = median("panel", key) / median("naive widget", key)
        print(f"{label:24}" + "".join(f"{fmt.format(v):>14}" for v in values)
              + f"{ratio:>14.2f}{naive:>14.2f}")
    print(f"{'  bytes / answer size':24}" + "".join(f"{median(n, 'bytes') / size:>14.2f}" for n in names))
    for t in COUNTED:
        print(f"{'  ' + t:24}" + "".join(
            f"{statistics.median(r['by_type'][t] for r in results[n]):>14,.0f}" for n in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    args = parser.parse_args()
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]

    srv = XaiStandin().start()
    os.environ.update(XAI_BASE_URL=srv.base_url, XAI_API_KEY=FAKE_KEY)
    answers = {s: long_answer(SCENARIOS[s][0]) for s in scenarios}
    order = [(s, name) for s in scenarios for _ in range(args.reps) for name in BODIES]
    for scenario, _name in order:
        chars, chunks, delay = SCENARIOS[scenario]
        answer = answers[scenario]
        srv.enqueue(Reply(content=answer, chunk_chars=-(-len(answer) // chunks), delay=delay))
    cells = ["%load_ext grok_magic", SETUP, *(MEASURED.format(body=BODIES[n]) for _s, n in order)]
    try:
        run = run_cells(cells, timeout=1800)
    finally:
        srv.stop()
    results = {s: {name: [] for name in BODIES} for s in scenarios}
    for index, (scenario, name) in enumerate(order, start=2):
        results[scenario][name].append(summarise(run.of_cell(index)))
    print("one kernel; %%grok and the panel interleaved on identical streams; "
          "kernel CPU = getrusage(RUSAGE_SELF) inside the kernel")
    for scenario in scenarios:
        report(scenario, results[scenario], len(answers[scenario]))


if __name__ == "__main__":
    main()

"""Front-end traffic of a streamed %%grok answer: bytes pushed and update rate, same run.

A 20 KB Markdown answer in 5,000 chunks streams from the local stand-in into a real kernel three
ways (each rendered by the same safe renderer), and every iopub message a front end would get is counted:
  naive      — re-display the whole answer on every chunk (what a simple loop does);
  throttled  — re-display the whole answer at most 10 times a second;
  %%grok     — grok_magic: finished blocks fixed, only the tail updated, ~10 updates/s.
Target: %%grok pushes <= 3x the answer's size. Run: python -m bench.magic_display
"""

from __future__ import annotations

import os

from tests.support.kernel_helpers import long_answer, run_cells  # noqa: E402
from tests.support.xai_standin import FAKE_KEY, Reply, XaiStandin  # noqa: E402

CHUNKS = 5000
DELAY = 0.0006  # seconds between chunks: ~3 s of streaming

BASELINE = """
import time
from IPython.display import display
from grok_magic.xai.client import GrokClient
from grok_magic.safety.markdown import render_html
body = {{"model": "grok-4", "messages": [{{"role": "user", "content": "go"}}]}}
stream = GrokClient.from_env().stream(body)
handle = display({{"text/html": ""}}, raw=True, display_id=True)
text, last = "", 0.0
for delta in stream:
    text += delta.content
    now = time.monotonic()
    if {throttle} and now - last < 0.1:
        continue
    last = now
    handle.update({{"text/html": render_html(text), "text/plain": text}}, raw=True)
handle.update({{"text/html": render_html(text), "text/plain": text}}, raw=True)
"""


def measure(srv: XaiStandin, answer: str, cell: str) -> dict:
    chunk = -(-len(answer) // CHUNKS)
    srv.enqueue(Reply(content=answer, chunk_chars=chunk, delay=DELAY))
    run = run_cells(["%load_ext grok_magic", cell], timeout=600)
    msgs = [m for m in run.of_cell(1) if m.type in ("display_data", "update_display_data")]
    answer_msgs = [m for m in msgs
                   if "application/vnd.jupyter.widget-view+json" not in (m.content.get("data") or {})]
    data_bytes = sum(sum(len(v) for v in (m.content.get("data") or {}).values())
                     for m in answer_msgs)
    wire = sum(m.nbytes for m in answer_msgs)
    span = max(m.at for m in answer_msgs) - min(m.at for m in answer_msgs)
    updates = sum(1 for m in answer_msgs if m.type == "update_display_data")
    return {"messages": len(answer_msgs), "data": data_bytes, "wire": wire, "span": span,
            "rate": updates / span if span else float("nan")}


def main() -> None:
    srv = XaiStandin().start()
    os.environ.update(XAI_BASE_URL=srv.base_url, XAI_API_KEY=FAKE_KEY)
    answer = long_answer(20_000)
    try:
        results = {
            "naive (every chunk)": measure(srv, answer, BASELINE.format(throttle="False")),
            "throttled whole": measure(srv, answer, BASELINE.format(throttle="True")),
            "%%grok": measure(srv, answer, "%%grok -q\nWrite a long answer"),
        }
    finally:
        srv.stop()
    size = len(answer)
    print(f"answer: {size:,} characters in {CHUNKS:,} chunks")
    print(f"{'renderer':22} {'messages':>9} {'updates/s':>9} {'data bytes':>12} {'x answer':>9} "
          f"{'wire bytes':>12}")
    for name, r in results.items():
        print(f"{name:22} {r['messages']:9,} {r['rate']:9.1f} {r['data']:12,} "
              f"{r['data'] / size:9.2f} {r['wire']:12,}")
    grok, naive = results["%%grok"], results["naive (every chunk)"]
    print(f"%%grok vs naive: {naive['data'] / grok['data']:.0f}x fewer bytes, "
          f"{naive['messages'] / grok['messages']:.0f}x fewer messages")
    print(f"target: %%grok bytes <= 3x answer -> {'OK' if grok['data'] <= 3 * size else 'MISSED'} "
          f"({grok['data'] / size:.2f}x); updates ~10/s -> {grok['rate']:.1f}/s "
          "(plus one new output per finished block)")


if __name__ == "__main__":
    main()

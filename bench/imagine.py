"""Grok Imagine in a cell: the overhead from request to displayed image, and the notebook's size
per 2K image (embedded JPEG vs PNG), same run.

1. Overhead. The local stand-in answers /v1/images/generations after LATENCY seconds (its
   `latency` knob) with URLs of files it serves. Baseline: the least a script can do — one
   `requests.post` for the generation, then one `requests.get` per image (no checks, nothing
   shown). Candidate: a `%%grok --imagine` cell in a real InteractiveShell: the body checked, the
   budget and ledger, the no-auth download with type and size checks, Pillow's look at each
   file, the contact sheet for several, the display bundles and the usage line. Each is timed
   REPEATS times, alternating; the overhead is candidate minus baseline (medians).
2. Size. One 2K image (2048 px long side; the stand-in draws gradients, shapes and grain, so it
   is not a flat picture) made as JPEG and as PNG, shown by the magic, saved in an .ipynb with
   nbformat: the file's bytes per image.

Run: python -m bench.imagine
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from tests.support.standin_imagine import imagine_state
from tests.support.xai_standin import FAKE_KEY, XaiStandin

LATENCY = 0.4
REPEATS = 7


def baseline(srv: XaiStandin, count: int, resolution: str) -> float:
    """A bare script: POST, then GET each URL."""
    started = time.perf_counter()
    answer = requests.post(f"{srv.base_url}/images/generations", timeout=30,
                           headers={"Authorization": f"Bearer {FAKE_KEY}"},
                           json={"model": "grok-imagine-image", "prompt": "a red fox",
                                 "n": count, "resolution": resolution}).json()
    for item in answer["data"]:
        if not requests.get(item["url"], timeout=30).content:
            raise SystemExit("the stand-in served an empty file")
    return time.perf_counter() - started


def candidate(ip, count: int, resolution: str) -> float:
    """The magic, from the cell's start to its last output."""
    from IPython.utils.capture import capture_output

    started = time.perf_counter()
    with capture_output() as cap:
        result = ip.run_cell(f"%%grok --imagine --count {count} --resolution {resolution}\n"
                             "a red fox")
    took = time.perf_counter() - started
    if result.error_in_exec is not None or not any(
            "image/jpeg" in o.data for o in cap.outputs):
        raise SystemExit(f"the cell failed: {result.error_in_exec!r}")
    return took


def notebook_bytes(ip, file_format: str, srv: XaiStandin, folder: Path) -> tuple[int, int]:
    """(.ipynb bytes, image file bytes) for one 2K image shown by the magic."""
    import nbformat
    from IPython.utils.capture import capture_output

    imagine_state(srv).file_format = file_format
    with capture_output() as cap:
        ip.run_cell("%%grok --imagine --resolution 2k --aspect 16:9 -q\na harbour at dusk")
    cell = nbformat.v4.new_code_cell("%%grok --imagine --resolution 2k --aspect 16:9 -q\n"
                                     "a harbour at dusk")
    cell.outputs = [nbformat.v4.new_output("display_data", data=o.data, metadata=o.metadata)
                    for o in cap.outputs if "application/vnd.jupyter.widget-view+json"
                    not in o.data]
    path = folder / f"{file_format}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    empty = folder / "empty.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")]), empty)
    return (path.stat().st_size - empty.stat().st_size,
            len(imagine_state(srv).generated[-1].data))


def main() -> None:
    from tests.support.magic_helpers import magic_shell

    srv = XaiStandin().start()
    folder = Path(tempfile.mkdtemp(prefix="grok-imagine-bench-"))
    os.environ.update(XAI_BASE_URL=srv.base_url, XAI_API_KEY=FAKE_KEY,
                      GROK_LEDGER=str(folder / "ledger.sqlite"))
    try:
        ip = magic_shell(max_retries=0)
        imagine_state(srv).latency = LATENCY
        print(f"stand-in latency: {LATENCY:.2f} s per generation; medians of {REPEATS}")
        print(f"{'images':>14} {'bare script':>12} {'%%grok':>9} {'overhead':>9} {'ratio':>6}")
        for count, resolution in ((1, "1k"), (1, "2k"), (4, "1k"), (4, "2k")):
            base, cand = [], []
            for i in range(REPEATS):
                os.environ["GROK_BENCH_RUN"] = str(i)
                base.append(baseline(srv, count, resolution))
                cand.append(candidate(ip, count, resolution))
            b, c = statistics.median(base), statistics.median(cand)
            print(f"{count} x {resolution:>3} {'':6} {b:11.3f}s {c:8.3f}s {c - b:8.3f}s "
                  f"{c / b:6.2f}")
        imagine_state(srv).latency = 0.0
        print()
        print(f"{'2K image':>10} {'file bytes':>11} {'ipynb bytes':>12} {'x file':>7}")
        sizes = {}
        for file_format in ("jpeg", "png"):
            nb, raw = notebook_bytes(ip, file_format, srv, folder)
            sizes[file_format] = nb
            print(f"{file_format:>10} {raw:11,} {nb:12,} {nb / raw:7.2f}")
        print(f"PNG / JPEG in the notebook: {sizes['png'] / sizes['jpeg']:.1f}x")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()

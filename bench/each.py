"""`ask_each` (issue 12, item 10): throughput against the ideal and a plain loop, under 429s, and
peak memory over a folder of 12-megapixel photos — each against a baseline measured in this run.

1. 200 text items, stand-in latency 300 ms, concurrency 8: the wall time of `ask_each` against the
   ideal N x latency / concurrency (target <= 1.15 x ideal); side by side a plain serial loop over
   the client (`Conversation.stream(...).until_done()` per item), on fewer items and scaled.
2. The same with every 10th, then every 5th request answered 429 + `Retry-After: 1` (10 % and
   20 % of requests): rows completed (target 200/200: every row answered, none an error, row i
   quoting item i's prompt, and no error row in the ledger), and the wall time against the same
   run without 429s measured here (target <= 1.6 x at 10 %; 20 % is reported).
3. 300 twelve-megapixel JPEG files through `ask_each("Label {item}", "<folder>/*.jpg")` (latency
   50 ms), in a fresh interpreter: peak RSS growth over the RSS after the imports (VmRSS sampled
   every 20 ms, and the kernel's VmHWM) (target <= 400 MB); side by side a naive baseline that
   builds all 300 image parts (`to_image_part`) into a list first, in its own fresh interpreter.

GROK_LEDGER points at a temporary file (a real ledger), XAI_BASE_URL / XAI_API_KEY at the xAI
stand-in (from tests/), which runs in a child process so it does not share the measured GIL.
Run: python -m bench.each [--items 200] [--plain-items 40] [--files 300] [--skip-memory]
Exits non-zero only on a crash; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from bench.standin_process import StandinProcess, status_kb  # noqa: E402

MODEL = "grok-4-fast-non-reasoning"
CONCURRENCY = 8
LATENCY = 0.3
TARGETS = {"plain": 1.15, "throttled": 1.6, "memory_mb": 400.0}
THROTTLES = ((10, "10%"), (5, "20%"))  # every n-th request answered 429: the share
RETRY_AFTER = 1.0  # seconds the stand-in's 429s ask for
TEMPLATE = "Say back: {item} #{index}"
ECHO = re.compile(r'to: "(.*?)"')
IMAGE_SIZE = (4000, 3000)  # 12 megapixels
DISTINCT_IMAGES = 8  # generated; the other files are hard links (or copies) of them
SAMPLE_EVERY = 0.02  # seconds between VmRSS samples


# -- the stand-in, in its own process (bench/standin_process.py) ---------------------------------
def knobs(srv, command) -> int:
    """In the stand-in's process: reset it, set knobs; how many chat requests it saw since."""
    seen = srv._chat_seen
    srv.reset()  # also forgets the requests received (image bodies are large)
    for name, value in command[1].items():
        setattr(srv, name, value)
    return seen


class Server(StandinProcess):
    def __init__(self) -> None:
        super().__init__(knobs)

    def set(self, **values) -> int:
        """Reset the stand-in, then set knobs; how many chat requests it saw since the last set."""
        return self.ask("set", values)


# -- 1. and 2. throughput ---------------------------------------------------------------------------
def trace_limits():
    """Record EachRun.limit after every settled outcome (instrumentation only, for the report)."""
    from grok_magic.runs import runner as each_runner

    trace: list[tuple[float, int]] = []
    original = each_runner.EachRun._settle

    def settle(self, *args):
        retry_at = original(self, *args)
        trace.append((time.monotonic(), self.limit))
        return retry_at

    each_runner.EachRun._settle = settle
    return trace


def mean_limit(trace: list[tuple[float, int]], start: float, end: float) -> float:
    """EachRun.limit averaged over time (it starts at CONCURRENCY)."""
    total, at, limit = 0.0, start, CONCURRENCY
    for when, value in trace:
        if when < start:
            continue
        total += (when - at) * limit
        at, limit = when, value
    total += (end - at) * limit
    return total / (end - start) if end > start else float("nan")


def run_each(tag: str, count: int, trace: list) -> dict:
    from grok_magic.runs.each import Each

    items = [f"{tag} item {i}" for i in range(count)]
    last: dict = {}
    del trace[:]
    start = time.monotonic()
    each = Each(TEMPLATE, items, concurrency=CONCURRENCY)
    frame = each.run(lambda p: last.update(retries=p.retries, rate_limited=p.rate_limited,
                                           waits=p.waits))
    wall = time.monotonic() - start
    expected = [TEMPLATE.format(item=item, index=i) for i, item in enumerate(items)]
    echoed = [(ECHO.search(a).group(1) if isinstance(a, str) and ECHO.search(a) else None)
              for a in frame["answer"]]
    aligned = sum(e == x for e, x in zip(echoed, expected, strict=True))
    errors = int(frame["error"].notna().sum())
    return {"wall": wall, "rows": len(frame), "aligned": aligned, "errors": errors,
            "replayed": int(frame["replayed"].sum()), "lost": count - aligned,
            "retries": last.get("retries", 0), "rate_limited": last.get("rate_limited", 0),
            "waits": last.get("waits", 0), "error_rows": error_rows(tag),
            "mean_limit": mean_limit(trace, start, start + wall),
            "first_error": next((e for e in frame["error"] if e is not None), None)}


def error_rows(tag: str) -> int:
    """Error rows the run over `tag`'s items left in the ledger (GROK_LEDGER)."""
    with sqlite3.connect(os.environ["GROK_LEDGER"]) as db:
        return db.execute("SELECT count(*) FROM exchanges WHERE status = 'error' AND question "
                          "LIKE ?", (f"Say back: {tag} item %",)).fetchone()[0]


def run_plain(tag: str, count: int) -> dict:
    """What a user writes today: a serial loop over the client, one exchange per item."""
    from grok_magic.ask import Ask
    from grok_magic.conversation import Conversation
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.messages import user_message

    client = GrokClient.from_env()
    convo = Conversation(max_history=0, recorder=Recorder.from_env())
    answers = []
    start = time.monotonic()
    for i in range(count):
        prompt = TEMPLATE.format(item=f"{tag} item {i}", index=i)
        response = convo.stream(client, Ask(user_message([prompt]), MODEL)).until_done()
        answers.append(response.text)
    wall = time.monotonic() - start
    client.close()
    aligned = sum(ECHO.search(a).group(1) == TEMPLATE.format(item=f"{tag} item {i}", index=i)
                  for i, a in enumerate(answers))
    return {"wall": wall, "count": count, "aligned": aligned}


# -- 3. memory, in fresh interpreters ---------------------------------------------------------------
def make_images(folder: Path, count: int) -> dict:
    """`count` 12 MP JPEGs (gradient + coarse and fine noise, ~4 MB each, like photos):
    DISTINCT_IMAGES generated, the rest hard links to them (copies where links fail)."""
    import numpy as np
    from PIL import Image

    start = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    width, height = IMAGE_SIZE
    rng = np.random.default_rng(12)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    base = 48 + 72 * x * np.array([1, 0.5, 0.2], np.float32) + 60 * y * np.array(
        [0.2, 0.6, 1], np.float32)
    coarse = Image.fromarray(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8))
    base += 0.4 * np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.float32)
    base = base.astype(np.uint8)
    del coarse
    originals = []
    for n in range(DISTINCT_IMAGES):
        variant = np.roll(base, (n * 373, n * 511), axis=(0, 1))[:, :, [(n + k) % 3 for k in
                                                                      range(3)]]
        variant = variant + rng.integers(0, 12, variant.shape, dtype=np.uint8)
        path = folder / f"photo{n:04d}.jpg"
        Image.fromarray(variant).save(path, "JPEG", quality=90)
        originals.append(path)
    del base, variant
    linked = 0
    for n in range(DISTINCT_IMAGES, count):
        path = folder / f"photo{n:04d}.jpg"
        try:
            os.link(originals[n % DISTINCT_IMAGES], path)
            linked += 1
        except OSError:
            shutil.copyfile(originals[n % DISTINCT_IMAGES], path)
    sizes = [p.stat().st_size for p in originals]
    return {"seconds": time.monotonic() - start, "mean_mb": sum(sizes) / len(sizes) / 1e6,
            "linked": linked, "disk_mb": sum(sizes) / 1e6 + (count - DISTINCT_IMAGES - linked)
            * sum(sizes) / len(sizes) / 1e6}


def memory_child(mode: str, folder: str) -> None:
    """In a fresh interpreter: baseline VmRSS after the imports, then the run, sampled."""
    import gc
    import glob
    import resource

    import pandas  # noqa: F401 - the result table's, imported before the baseline
    import PIL.Image
    import PIL.JpegImagePlugin  # noqa: F401
    import requests  # noqa: F401

    import grok_magic.inputs.images
    import grok_magic.runs.each

    PIL.Image.init()
    gc.collect()
    baseline = status_kb("VmRSS")
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], status_kb("VmRSS"))
            stop.wait(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    result: dict = {}
    if mode == "each":
        frame = grok_magic.ask_each("Label {item}", f"{folder}/*.jpg",
                                         concurrency=CONCURRENCY)
        result.update(rows=len(frame), errors=int(frame["error"].notna().sum()),
                      images=int(frame["answer"].str.contains("I received 1 image", na=False).sum()),
                      first_error=next((e for e in frame["error"] if e is not None), None))
    else:
        parts = [grok_magic.inputs.images.to_image_part(f) for f in sorted(glob.glob(f"{folder}/*.jpg"))]
        result.update(rows=len(parts), errors=0, images=len(parts),
                      part_mb=sum(len(p["image_url"]["url"]) for p in parts) / 1e6)
    seconds = time.monotonic() - start
    peak[0] = max(peak[0], status_kb("VmRSS"))
    stop.set()
    sampler.join()
    result.update(mode=mode, seconds=seconds, baseline_kb=baseline, peak_kb=peak[0],
                  end_kb=status_kb("VmRSS"), hwm_kb=status_kb("VmHWM"),
                  maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(json.dumps(result))


def run_memory_child(mode: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.each", "--memory-child", mode, str(folder)],
                          capture_output=True, text=True, env=os.environ.copy(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- report -----------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def mb(kb: int) -> float:
    return kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--plain-items", type=int, default=40,
                        help="items the serial loop sends (its time is scaled to --items)")
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=2, metavar=("MODE", "FOLDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    from tests.support.xai_standin import FAKE_KEY

    place = Path(tempfile.mkdtemp(prefix="grok-bench-each-"))
    free_mb = shutil.disk_usage(place).free / 1e6
    saved = {k: os.environ.get(k) for k in ("XAI_API_KEY", "XAI_BASE_URL", "GROK_LEDGER",
                                            "GROK_REPLAY", "HOME")}
    server = Server()
    ideal = args.items * LATENCY / CONCURRENCY
    try:
        os.environ.update(XAI_API_KEY=FAKE_KEY, XAI_BASE_URL=server.base_url, HOME=str(place),
                          GROK_LEDGER=str(place / "ledger.sqlite"))
        os.environ.pop("GROK_REPLAY", None)
        trace = trace_limits()

        server.set(latency=0.0)
        run_each("warm-up", 16, trace)  # imports, connections, the ledger's creation
        server.set(latency=LATENCY)
        plain = run_each("plain", args.items, trace)
        seen = {"ask_each": server.set(latency=LATENCY)}
        throttled = {}
        for every, share in THROTTLES:
            server.set(latency=LATENCY, throttle_every=every, throttle_retry_after=RETRY_AFTER)
            throttled[share] = run_each(f"throttled{every}", args.items, trace)
            seen[f"with {share} 429s"] = server.set(latency=LATENCY)
        loop = run_plain("loop", args.plain_items)
        server.set(latency=0.0)

        memory = None
        if not args.skip_memory:
            needed = DISTINCT_IMAGES * 5 + (args.files - DISTINCT_IMAGES) * 5  # MB, if copied
            if free_mb < needed + 2000:
                print(f"skipping memory: {free_mb:,.0f} MB free, up to {needed:,} MB needed")
            else:
                images = make_images(place / "photos", args.files)
                os.environ["GROK_LEDGER"] = str(place / "memory-ledger.sqlite")
                server.set(latency=0.05)
                each_mem = run_memory_child("each", place / "photos")
                server.set(latency=0.05)
                naive_mem = run_memory_child("naive", place / "photos")
                memory = (images, each_mem, naive_mem)
        server.set(latency=0.0)
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(place, ignore_errors=True)

    loop_scaled = loop["wall"] * args.items / loop["count"]
    plain_ratio = plain["wall"] / ideal
    print(f"{args.items} text items, stand-in latency {LATENCY * 1000:.0f} ms, concurrency "
          f"{CONCURRENCY}: ideal {args.items} x {LATENCY} s / {CONCURRENCY} = {ideal:.2f} s")
    print()
    print(f"{'':38} {'wall s':>7} {'x ideal':>7} {'x no-429':>8} {'items/s':>7} "
          f"{'mean limit':>10} {'429s':>5} {'retries':>7} {'rows ok':>8} {'error rows':>10}")
    print(f"{'serial loop (Conversation.stream)':38} {loop_scaled:7.2f} {loop_scaled / ideal:7.2f} "
          f"{loop_scaled / plain['wall']:8.2f} {loop['count'] / loop['wall']:7.2f} {1:10.2f} "
          f"{0:5} {0:7} {loop['aligned']:>4}/{loop['count']:<3} {'':>10}")
    runs = [("ask_each", plain), *((f"ask_each, {share} 429 + Retry-After: {RETRY_AFTER:g}", run)
                                   for share, run in throttled.items())]
    for name, run in runs:
        print(f"{name:38} {run['wall']:7.2f} {run['wall'] / ideal:7.2f} "
              f"{run['wall'] / plain['wall']:8.2f} {args.items / run['wall']:7.2f} "
              f"{run['mean_limit']:10.2f} {run['rate_limited']:5} {run['retries']:7} "
              f"{run['aligned']:>4}/{run['rows']:<3} {run['error_rows']:10}")
    print(f"  (serial loop: {loop['count']} items in {loop['wall']:.2f} s, scaled x "
          f"{args.items / loop['count']:g} to {args.items})")
    print()
    print(f"ask_each vs ideal              : {plain_ratio:.3f}x (target <= {TARGETS['plain']}x) "
          f"{verdict(plain_ratio <= TARGETS['plain'])}")
    print(f"ask_each speed-up over the loop: {loop_scaled / plain['wall']:.1f}x")
    for share, run in throttled.items():
        ratio = run["wall"] / plain["wall"]
        target = (f"(target <= {TARGETS['throttled']}x) "
                  f"{verdict(ratio <= TARGETS['throttled'])}" if share == "10%" else "(reported)")
        intact = (run["lost"] == 0 and run["errors"] == 0 and run["rows"] == args.items
                  and run["error_rows"] == 0)
        print(f"{f'with {share} 429s vs no 429s':31}: {ratio:.3f}x {target}")
        print(f"{f'with {share} 429s, rows completed':31}: {run['aligned']}/{args.items} (target "
              f"{args.items}/{args.items}), {run['errors']} errors, {run['lost']} lost, "
              f"{run['error_rows']} error rows in the ledger {verdict(intact)}")
    print("stand-in chat requests         : " + ", ".join(f"{n} ({k})" for k, n in seen.items()))
    if memory is not None:
        images, each_mem, naive_mem = memory
        print()
        print(f"{args.files} JPEG files of {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} (12 MP, "
              f"{images['mean_mb']:.1f} MB each; {DISTINCT_IMAGES} generated in "
              f"{images['seconds']:.1f} s, {images['linked']} hard links to them; "
              f"{images['disk_mb']:.0f} MB on disk), stand-in latency 50 ms, fresh interpreters")
        print()
        print(f"{'':34} {'seconds':>8} {'baseline MB':>11} {'peak +MB':>9} {'HWM +MB':>8} "
              f"{'end +MB':>8} {'rows ok':>8}")
        for name, run in (("ask_each (just in time)", each_mem),
                          ("naive: all to_image_part first", naive_mem)):
            base = run["baseline_kb"]
            print(f"{name:34} {run['seconds']:8.1f} {mb(base):11.0f} "
                  f"{mb(run['peak_kb'] - base):9.0f} {mb(run['hwm_kb'] - base):8.0f} "
                  f"{mb(run['end_kb'] - base):8.0f} {run['rows'] - run['errors']:>4}/"
                  f"{run['rows']:<3}")
        growth = mb(max(each_mem["peak_kb"], each_mem["hwm_kb"]) - each_mem["baseline_kb"])
        naive_growth = mb(max(naive_mem["peak_kb"], naive_mem["hwm_kb"])
                          - naive_mem["baseline_kb"])
        print(f"  (naive list of parts holds {naive_mem['part_mb']:.0f} MB of data URLs)")
        print()
        memory_ok = growth <= TARGETS["memory_mb"] and each_mem["errors"] == 0
        print(f"ask_each peak RSS growth       : {growth:.0f} MB (target <= "
              f"{TARGETS['memory_mb']:.0f} MB) {verdict(memory_ok)}; naive {naive_growth:.0f} MB "
              f"({naive_growth / growth:.2f}x ask_each's)")
        if each_mem["errors"]:
            print(f"  first error: {each_mem['first_error']}")
    print()
    print("raw:")
    print(json.dumps({"ideal": ideal, "ask_each": plain, "throttled": throttled, "loop": loop,
                      "loop_scaled": loop_scaled,
                      "memory": dict(zip(("images", "each", "naive"), memory, strict=True))
                      if memory else None}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Batch API sizing (issue 13, item 7): what `submit(each)` (grok_magic/batch_submit.py) costs
in time, disk and memory, each against a baseline measured in this run, and an extrapolation to
1,000,000 items on paper. A run whose JSONL outgrows MAX_UPLOAD_BYTES is split into several
batches, the parts of one job (`BatchJob.parts`).

1. 10,000 short product reviews (generated deterministically): `submit` end to end and the build
   (`_write_parts`: body, canonical form once, hash, ledger lookup, one line written per item),
   against a plain loop of `Each.body(i)` + json.dumps to a file ("just serialising"); the
   JSONL size; the upload to the stand-in (multipart streamed from disk), create and
   `BatchBook.add` timed per call; peak memory during submit (tracemalloc peak, and RSS growth
   sampled from /proc/self/status every 10 ms) against the naive alternative that builds all
   the lines in a list first; the memory a job keeps (`BatchJob.sent`, then `.rows`); bytes
   per batch_rows / exchanges row; then the results read back (`wait`: status polls, result
   pages, `Recorder.record_results` + `BatchBook.mark_recorded` once a page).
2. 1,000 one-megapixel JPEG files (generated with Pillow from gradients and noise): JSONL bytes
   per image and in total; `submit` splits them into parts — their number and bytes, build
   and upload time, peak RSS (and while uploading each part) against the same baselines.
3. 1,000,000 items as one job, computed from the numbers measured above (nothing hard-coded):
   parts (files), JSONL size and temporary disk, calls (uploads, creates, status polls = looks
   per PollSchedule over 24 h x parts, result pages of RESULTS_PAGE), build/upload/create time,
   memory, ledger rows, size and transactions, and where the limits are.

Every measurement runs in a fresh interpreter; the xAI stand-in (from tests/, Batch API latency
0) runs in a child process, so it shares neither the measured GIL nor the measured memory.
GROK_LEDGER points at a temporary file per run. Timed runs are medians of --reps.

What it found (2 busy cores, shared with other work; the exact numbers are in the output):
- Text: building the JSONL costs 2.6-3.7x the bare serialisation (105-170 us an item; the 3x
  target is met or MISSED from run to run, with the load); ~435 B an item, so 1,000,000 reviews are one job
  of 5 parts of <= 241,000 items: ~3 minutes of building, 5 uploads + 5 creates, 1,447
  status polls in 24 h (one a look, the parts in turn), ~1,000 result pages.
- Memory: submit peaks at about the naive list for text (0.8x tracemalloc, 1.0x RSS): every
  SentRow keeps its canonical request JSON (~340 chars); a job keeps ~1 KB a row in
  `BatchJob.sent`, ~1.5 KB with `.rows` (~1.5 GB for 1,000,000 rows in one process). Images
  stream: ~35 MB against ~1 GB for the naive list. An upload streams: RSS does not grow.
- Images: ~324 KB of JSONL per 1 MP JPEG, 324 to a file: 1,000 are now submitted as 4 parts
  (100.0, 99.9, 100.0, 8.6 MiB), built in ~9 s, uploaded in ~7 s. 1,000,000 would be one job of
  3,087 parts: 324 GB of temporary files written before the first upload, ~1,450 status polls
  in 24 h (one a look; the parts are asked in turn, so each is seen every 3,087 looks); the
  run's row_index is kept once.
- Ledger: ~825 B per batch_rows row (text); a part's rows in one transaction (~3 s for a full
  text part); results are recorded a page at a time, ~85-180 us a row (1.5-3 min for 1,000,000).
Run: python -m bench.batch_api [--items 10000] [--images 1000] [--reps 3] [--skip-images]
Exits non-zero only on a crash; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from bench.standin_process import StandinProcess, status_kb  # noqa: E402

MODEL = "grok-4-fast-non-reasoning"
TEXT_TEMPLATE = ("Classify the sentiment of this product review as positive, negative or mixed. "
                 "Answer with one word.\n\nReview: {item}")
IMAGE_TEMPLATE = "Describe this photo in one short sentence: {item}"
IMAGE_SIDE = 1000  # one megapixel
TARGET_ITEMS = 1_000_000
WINDOW = 24 * 3600  # a batch's results come within 24 h
SAMPLE_EVERY = 0.01  # seconds between VmRSS samples
# Targets: building costs at most this many times the bare serialisation; submit's memory peak is
# below the naive list's (text), a small fraction of it (images, whose rows keep only a hash); the
# upload streams (RSS grows by at most UPLOAD_RSS_MB while sending).
TARGETS = {"build_ratio": 3.0, "text_memory_ratio": 1.0, "image_memory_ratio": 0.25,
           "upload_rss_mb": 16.0}


# -- the stand-in, in its own process (bench/standin_process.py) ---------------------------------
def batch_knobs(srv, command) -> str:
    """In the stand-in's process: forget uploads and batches, set Batch API knobs."""
    from tests.support.standin_batches import batch_state

    state = batch_state(srv)
    state.files.clear()  # uploaded bodies are large: keep the server's memory flat
    state.batches.clear()
    for name, value in command[1].items():
        setattr(state, name, value)
    return "ok"


class Server(StandinProcess):
    def __init__(self) -> None:
        super().__init__(batch_knobs)

    def set(self, **values) -> None:
        self.ask("set", values)


# -- inputs -----------------------------------------------------------------------------------------
PRODUCTS = ("kettle", "pair of headphones", "desk lamp", "backpack", "blender", "phone case",
            "running shoes", "coffee grinder", "keyboard", "rain jacket", "toaster", "webcam")
OPENERS = ("Bought this {p} last month.", "I have used this {p} every day for a few weeks.",
           "Got the {p} as a gift.", "Ordered the {p} after reading the reviews.",
           "Second {p} from this brand.")
GOOD = ("It works exactly as described.", "Build quality is excellent for the price.",
        "Setup took two minutes.", "Battery life is better than advertised.",
        "It looks great on my desk.", "Customer service answered within an hour.")
BAD = ("It stopped working after ten days.", "The plastic feels cheap and it creaks.",
       "The instructions were missing.", "It is much louder than I expected.",
       "Shipping took three weeks.", "The colour is nothing like the photos.")
CLOSERS = ("Would buy again.", "I returned it.", "Three stars, maybe four.",
           "Recommended if it is on sale.", "Not worth the money.", "")


def review(i: int) -> str:
    """A short product review, the same for the same i."""
    rnd = random.Random(i)
    product = rnd.choice(PRODUCTS)
    body = rnd.sample(GOOD, rnd.randint(0, 2)) + rnd.sample(BAD, rnd.randint(0, 2))
    rnd.shuffle(body)
    parts = [rnd.choice(OPENERS).format(p=product), *body, rnd.choice(CLOSERS)]
    return " ".join(p for p in parts if p)


def make_image(args: tuple[int, str]) -> int:
    """A 1000x1000 JPEG that compresses like a photo: a gradient, coarse colour noise, grain."""
    from PIL import Image

    i, path = args
    rnd = random.Random(i)
    side = IMAGE_SIDE
    grad = Image.linear_gradient("L").resize((side, side)).rotate(rnd.uniform(0, 360))
    tone = Image.merge("RGB", (grad, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                               grad.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
    coarse = Image.frombytes("RGB", (40, 40), rnd.randbytes(40 * 40 * 3)).resize(
        (side, side), Image.Resampling.BICUBIC)
    grain = Image.frombytes("L", (side, side), rnd.randbytes(side * side)).convert("RGB")
    image = Image.blend(Image.blend(coarse, tone, 0.4), grain, 0.08)
    image.save(path, "JPEG", quality=85)
    return os.path.getsize(path)


def make_images(folder: Path, count: int) -> list[int]:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(i, str(folder / f"photo-{i:05d}.jpg")) for i in range(count)]
    with multiprocessing.get_context("spawn").Pool(max(1, os.cpu_count() or 1)) as pool:
        return pool.map(make_image, jobs, chunksize=16)


# -- measured in a fresh interpreter ----------------------------------------------------------------
class RssSampler:
    """VmRSS every SAMPLE_EVERY seconds on a thread; the peak within a window."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), status_kb("VmRSS")))
            self._stop.wait(SAMPLE_EVERY)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), status_kb("VmRSS")))

    def peak(self, start: float = 0.0, end: float = float("inf")) -> int:
        return max((kb for t, kb in self.samples if start <= t <= end), default=0)

    def at(self, moment: float) -> int:
        """The last sample taken at or before `moment`."""
        before = [kb for t, kb in self.samples if t <= moment]
        return before[-1] if before else self.samples[0][1]


def reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def ledger_stats(path: Path) -> dict:
    """Bytes the ledger's tables and indexes take (dbstat), and a few lengths."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        rows = conn.execute("SELECT count(*) FROM batch_rows").fetchone()[0]
        exchanges = conn.execute("SELECT count(*) FROM exchanges").fetchone()[0]
        index = conn.execute("SELECT coalesce(sum(length(row_index)), 0) FROM batches").fetchone()[0]
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    return {"batch_rows_bytes": sum(v for k, v in sizes.items() if "batch_rows" in k),
            "exchanges_bytes": sum(v for k, v in sizes.items() if "exchanges" in k),
            "batch_rows": rows, "exchanges": exchanges, "row_index_chars": index,
            "file_bytes": path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)}


def child(mode: str, kind: str, count: int, folder: str | None, trace: bool,
          results: bool) -> dict:
    """One measurement: mode serialise | naive | submit over `count` text items or images."""
    from grok_magic.ledger.batches import BatchBook
    from grok_magic.ledger.recorder import Recorder
    from grok_magic.runs import batch_job, batch_submit
    from grok_magic.runs.batch_job import BatchJob, PollSchedule
    from grok_magic.runs.batch_submit import submit
    from grok_magic.runs.each import Each
    from grok_magic.xai import batch_api
    from grok_magic.xai.batch_api import CHAT_URL, BatchAPI, BatchTooLargeError
    from grok_magic.xai.client import GrokClient

    if kind == "text":
        each = Each(TEXT_TEMPLATE, [review(i) for i in range(count)], model=MODEL, max_tokens=8)
    else:
        files = sorted(Path(folder).glob("*.jpg"))[:count]
        each = Each(IMAGE_TEMPLATE, files, model=MODEL, max_tokens=40, image_cols=["item"],
                    root=folder)  # the items are files: said so, and read only under `folder`
    # Outside the measurement: imports (requests, pandas…), the connection, the ledger file and
    # its statements — a two-item job submitted and waited for, through the same client/ledger.
    each.body(0)
    warm = Each("Warm-up {item}", ["a", "b"], model=MODEL, max_tokens=8, client=each.client,
                recorder=each.recorder)
    submit(warm, name="warm-up", schedule=PollSchedule(first=0.05, floor=0.05, cap=0.1)).wait(
        timeout=60)
    ledger = each.recorder.ledger
    ledger_before = ledger_stats(ledger.path)
    marks: dict = {}
    calls = {"upload": 0, "create": 0, "status": 0, "results": 0}
    windows: dict[str, list] = {}  # key -> [(start, end)] of every call

    def timed(owner, name, key, before=None):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if before is not None:
                before(*args)
            calls[key] = calls.get(key, 0) + 1
            start = time.perf_counter()
            marks.setdefault(key + "_start", start)
            try:
                return original(*args, **kwargs)
            finally:
                marks[key + "_end"] = time.perf_counter()
                marks[key + "_s"] = marks.get(key + "_s", 0.0) + marks[key + "_end"] - start
                windows.setdefault(key, []).append((start, marks[key + "_end"]))

        setattr(owner, name, wrapper)

    # The JSONL is built (every part written) by _write_parts, then each part is uploaded and
    # created, then BatchBook.add writes each part's rows; results are recorded a page at a time.
    timed(batch_submit, "_write_parts", "build")
    timed(BatchAPI, "upload", "upload",
          before=lambda self, path, *a: marks.setdefault("part_bytes", []).append(
              os.path.getsize(path)))
    timed(BatchAPI, "create", "create")
    timed(BatchAPI, "status", "status_call")
    timed(BatchBook, "add", "add")
    timed(BatchJob, "fetch", "fetch")
    timed(Recorder, "record_results", "record")
    timed(BatchBook, "mark_recorded", "mark")
    original_get = GrokClient.get_json

    def get_json(self, path, **kwargs):
        calls["results" if "/results" in path else "status"] += 1
        return original_get(self, path, **kwargs)

    GrokClient.get_json = get_json

    out_path = Path(tempfile.mkdtemp(prefix="grok-bench-out-")) / "out.jsonl"
    gc.collect()
    if trace:
        import tracemalloc

        tracemalloc.start()
    rss0 = status_kb("VmRSS")
    hwm_ok = reset_hwm()
    sampler = RssSampler().start()
    start = time.perf_counter()
    result: dict = {"mode": mode, "kind": kind, "count": count}
    job = None
    if mode == "serialise":
        with open(out_path, "w", encoding="utf-8") as out:
            for i in range(count):
                out.write(json.dumps({"custom_id": f"row-{i}", "method": "POST", "url": CHAT_URL,
                                      "body": each.body(i)}, ensure_ascii=False) + "\n")
        result["jsonl_bytes"] = out_path.stat().st_size
    elif mode == "naive":
        lines = [json.dumps({"custom_id": f"row-{i}", "method": "POST", "url": CHAT_URL,
                             "body": each.body(i)}, ensure_ascii=False) for i in range(count)]
        out_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result["jsonl_bytes"] = out_path.stat().st_size
        del lines
    else:
        try:
            job = submit(each, name="bench")
            result["refused"] = None
        except BatchTooLargeError as err:
            result["refused"] = str(err)
        result["part_bytes"] = marks.get("part_bytes", [])
        result["jsonl_bytes"] = sum(result["part_bytes"]) or None
    end = time.perf_counter()
    sampler.stop()
    result.update(seconds=end - start, rss0_kb=rss0, rss_peak_kb=sampler.peak(start, end),
                  hwm_kb=status_kb("VmHWM") if hwm_ok else None, marks=marks)
    if "build_s" in marks:
        result["build_s"] = marks["build_s"]
        b0, b1 = windows["build"][0]
        result["build_rss_kb"] = sampler.peak(b0, b1) - sampler.at(b0)
        # bytes an item still holds: RSS growth over the second half of the build, per item
        # (items are built at an even pace; the first half carries the fixed costs)
        result["build_slope_b"] = max(0, sampler.at(b1) - sampler.at((b0 + b1) / 2)) * 1024 \
            / max(1, count / 2)
    if windows.get("upload"):  # the most RSS grew while any one part was being sent
        result["upload_rss_kb"] = max(sampler.peak(a, b) - sampler.at(a)
                                      for a, b in windows["upload"])
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        result["trace_peak"] = peak
        gc.collect()
        result["kept_after_submit"] = tracemalloc.get_traced_memory()[0]
    result["ledger_before"] = ledger_before
    if job is not None:
        result["sent"] = len(job.sent)
        result["parts"] = len(job.parts)
        result["request_chars"] = sum(len(r.request) for r in job.sent.values())
        result["ledger_after_submit"] = ledger_stats(ledger.path)
    if job is not None and results:
        job.schedule = PollSchedule(first=0.1, factor=1.5, floor=0.25, cap=0.5, quick_for=0.0)
        polls_before = calls["status"]
        wait_start = time.perf_counter()
        table = job.wait(timeout=900)
        result["wait_s"] = time.perf_counter() - wait_start
        result["answered"] = int(table["error"].isna().sum()) if hasattr(table, "columns") else None
        del table
        result["polls"] = calls["status"] - polls_before
        result["ledger_after_results"] = ledger_stats(ledger.path)
        result["rows"] = len(job.rows)
        if trace:
            gc.collect()
            result["kept_after_results"] = tracemalloc.get_traced_memory()[0]
    result["calls"] = calls
    result["pages_recorded"] = len(windows.get("record", []))
    result["limits"] = {"max_upload": batch_api.MAX_UPLOAD_BYTES,
                        "results_page": batch_api.RESULTS_PAGE}
    result["schedule"] = [getattr(batch_job.PollSchedule(), f) for f in
                          ("first", "factor", "floor", "cap", "quick_for")]
    shutil.rmtree(out_path.parent, ignore_errors=True)
    return result


def run_child(place: Path, base_url: str, mode: str, kind: str, count: int, *,
              folder: Path | None = None, trace: bool = False, results: bool = False) -> dict:
    from tests.support.xai_standin import FAKE_KEY

    ledger = Path(tempfile.mkdtemp(prefix="ledger-", dir=place)) / "ledger.sqlite"
    env = {**os.environ, "XAI_API_KEY": FAKE_KEY, "XAI_BASE_URL": base_url,
           "GROK_LEDGER": str(ledger), "HOME": str(place)}
    env.pop("GROK_REPLAY", None)
    command = [sys.executable, "-m", "bench.batch_api", "--child", mode, kind, str(count),
               str(folder or "-"), "trace" if trace else "-", "results" if results else "-"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} {kind} failed:\n{done.stderr[-4000:]}")
    shutil.rmtree(ledger.parent, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the report -------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def mb(n: float) -> float:
    return n / 1e6


def polls_in(window: float, schedule: list[float]) -> int:
    """Status requests one job makes over `window` seconds under the default PollSchedule."""
    from grok_magic.runs.batch_job import PollSchedule

    plan = PollSchedule(*schedule)
    elapsed, delay, polls = 0.0, None, 1  # one look at once, then one after every delay
    while True:
        delay = plan.next(elapsed, delay)
        elapsed += delay
        if elapsed > window:
            return polls
        polls += 1


def growth_kb(run: dict) -> int:
    return max(0, run["rss_peak_kb"] - run["rss0_kb"])


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:.0f} B"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=1_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, kind, count, folder, trace, results = args.child
        print(json.dumps(child(mode, kind, int(count), None if folder == "-" else folder,
                               trace == "trace", results == "results")))
        return 0

    place = Path(tempfile.mkdtemp(prefix="grok-bench-batch-"))
    server = Server()
    text: dict = {}
    images: dict = {}
    try:
        # The stand-in limits the multipart body, not the file in it: leave room for its header
        # (a part filled to within a few hundred bytes of MAX_UPLOAD_BYTES would be refused).
        server.set(latency=0.0, max_file_bytes=100 * 2**20 + 2**16)
        n = args.items
        # 1. text: timed runs interleaved (fresh interpreters), then memory runs with tracemalloc.
        timed = {"serialise": [], "submit": []}
        for rep in range(args.reps):
            timed["serialise"].append(run_child(place, server.base_url, "serialise", "text", n))
            server.set(latency=0.0, expire_after=None if rep == 0 else 0)  # answer rep 0 only
            timed["submit"].append(run_child(place, server.base_url, "submit", "text", n,
                                             results=rep == 0))
        text["serialise"], text["submit"] = timed["serialise"], timed["submit"]
        text["naive"] = run_child(place, server.base_url, "naive", "text", n)
        server.set(latency=0.0, expire_after=None)
        text["trace"] = {m: run_child(place, server.base_url, m, "text", n, trace=True,
                                      results=m == "submit")
                         for m in ("serialise", "naive", "submit")}
        # 2. images
        if not args.skip_images:
            free = shutil.disk_usage(place).free
            need = args.images * 2.5e5 * 4  # the files, plus JSONL copies of ~4/3 their size
            if free < need * 2:
                print(f"images skipped: {size(free)} free in {place}, about {size(need)} needed")
            else:
                folder = place / "photos"
                start = time.perf_counter()
                sizes = make_images(folder, args.images)
                images["generated_s"] = time.perf_counter() - start
                images["file_bytes"] = sum(sizes)
                images["serialise"] = run_child(place, server.base_url, "serialise", "image",
                                                args.images, folder=folder)
                images["naive"] = run_child(place, server.base_url, "naive", "image",
                                            args.images, folder=folder)
                server.set(latency=0.0, expire_after=0)  # uploaded and created, not answered
                images["submit"] = run_child(place, server.base_url, "submit", "image",
                                             args.images, folder=folder)
    finally:
        server.stop()
        shutil.rmtree(place, ignore_errors=True)

    report(args, text, images)
    return 0


def row(name: str, value: str, base: str = "-", ratio: str = "-", note: str = "") -> None:
    print(f"{name:46} {value:>12} {base:>12} {ratio:>8}  {note}")


def report(args, text: dict, images: dict) -> None:
    n = args.items
    submits, serials = text["submit"], text["serialise"]
    build = statistics.median(r["build_s"] for r in submits)
    whole = statistics.median(r["seconds"] for r in submits)
    serial = statistics.median(r["seconds"] for r in serials)
    upload = statistics.median(r["marks"]["upload_s"] for r in submits)
    create = statistics.median(r["marks"]["create_s"] for r in submits)
    add = statistics.median(r["marks"]["add_s"] for r in submits)
    jsonl = submits[0]["jsonl_bytes"]
    first = submits[0]
    limits, schedule = first["limits"], first["schedule"]
    trace = text["trace"]
    naive = text["naive"]
    print(f"Batch API sizing: {n:,} text items (reviews, {jsonl / n:,.0f} B of JSONL each), "
          f"stand-in latency 0; times are medians of {args.reps} fresh interpreters")
    row("measure", "value", "baseline", "ratio", "note")
    ratio = build / serial
    row(f"text: build JSONL in submit ({n:,})", f"{build:.2f} s", f"{serial:.2f} s",
        f"{ratio:.2f}x", f"baseline Each.body + json.dumps to a file; {build / n * 1e6:.0f} us "
        f"an item; <= {TARGETS['build_ratio']:g}x {verdict(ratio <= TARGETS['build_ratio'])}")
    row("text: submit end to end", f"{whole:.2f} s", f"{serial:.2f} s", f"{whole / serial:.2f}x",
        f"{first['parts']} part(s); upload {upload * 1000:.0f} ms, create {create * 1000:.0f} ms "
        f"(the stand-in checks every line), ledger add {add * 1000:.0f} ms")
    rate = jsonl / upload
    row("text: JSONL size / upload", size(jsonl), "-", "-",
        f"{jsonl / n:,.0f} B an item; uploaded at {mb(rate):,.0f} MB/s to the local stand-in")
    up_rss = statistics.median(r["upload_rss_kb"] for r in submits) / 1024
    row("text: RSS growth while uploading", f"{up_rss:.1f} MiB", "-", "-",
        f"file {jsonl / 2**20:.1f} MiB; streamed: <= {TARGETS['upload_rss_mb']:g} MiB "
        f"{verdict(up_rss <= TARGETS['upload_rss_mb'])}")
    tp = {m: trace[m]["trace_peak"] for m in trace}
    ratio = tp["submit"] / tp["naive"]
    row("text: tracemalloc peak, submit vs naive list", size(tp["submit"]), size(tp["naive"]),
        f"{ratio:.2f}x", f"streamed serialise {size(tp['serialise'])}; <= "
        f"{TARGETS['text_memory_ratio']:g}x naive {verdict(ratio <= TARGETS['text_memory_ratio'])}")
    sub_rss = statistics.median(growth_kb(r) for r in submits) * 1024
    row("text: RSS growth, submit vs naive list", size(sub_rss), size(growth_kb(naive) * 1024),
        f"{sub_rss / max(1, growth_kb(naive) * 1024):.2f}x",
        f"streamed serialise {size(statistics.median(growth_kb(r) for r in serials) * 1024)}")
    kept = trace["submit"]["kept_after_submit"]
    kept_rows = trace["submit"].get("kept_after_results", kept)
    request_chars = first["request_chars"] / n
    row("text: kept by the job after submit", size(kept), "-", "-",
        f"{kept / n:,.0f} B an item (BatchJob.sent; its canonical request JSON "
        f"{request_chars:,.0f} chars a row)")
    row("text: kept by the job after results", size(kept_rows), "-", "-",
        f"{kept_rows / n:,.0f} B an item (+ BatchJob.rows)")
    before, ledger = first["ledger_before"], first["ledger_after_submit"]
    rows_added = ledger["batch_rows"] - before["batch_rows"]
    rows_bytes_added = ledger["batch_rows_bytes"] - before["batch_rows_bytes"]
    per_row = rows_bytes_added / rows_added
    index_chars = (ledger["row_index_chars"] - before["row_index_chars"]) / n
    after = first.get("ledger_after_results") or ledger
    per_exchange = ((after["exchanges_bytes"] - before["exchanges_bytes"])
                    / max(1, after["exchanges"] - before["exchanges"]))
    row("text: ledger batch_rows", size(rows_bytes_added), "-", "-",
        f"{rows_added:,} rows, {per_row:,.0f} B a row with its index (dbstat); row_index "
        f"{index_chars:.1f} chars an item; add {add / n * 1e6:.1f} us a row")
    marks = first["marks"]
    fetch = marks.get("fetch_s", float("nan"))
    pages = first["calls"]["results"]
    recorded_pages = first["pages_recorded"]
    record = marks.get("record_s", 0.0) + marks.get("mark_s", 0.0)
    status_each = marks.get("status_call_s", 0.0) / max(1, first["calls"].get("status_call", 0))
    row("text: results read back (wait)", f"{first.get('wait_s', 0):.2f} s", "-", "-",
        f"{first.get('rows', 0):,} rows; {first.get('polls', 0)} polls "
        f"({status_each * 1000:.1f} ms a status call), {pages} result pages; fetch {fetch:.2f} s "
        f"= {fetch / n * 1e6:.0f} us a row")
    row("text: results recorded a page at a time", f"{record:.2f} s", "-", "-",
        f"{recorded_pages} pages, one record_many + one mark_recorded each: "
        f"{record / n * 1e6:.0f} us a row; exchanges {per_exchange:,.0f} B a row")

    image_case = None
    if images:
        count = args.images
        ser, nai, sub = images["serialise"], images["naive"], images["submit"]
        per_image = ser["jsonl_bytes"] / count
        parts = sub.get("parts", 0)
        part_bytes = sub["part_bytes"]
        print()
        print(f"{count:,} one-megapixel JPEGs ({images['file_bytes'] / count / 1e3:,.0f} KB a "
              f"file on disk, generated in {images['generated_s']:.0f} s)")
        row("images: JSONL size", size(ser["jsonl_bytes"]), size(images["file_bytes"]),
            f"{ser['jsonl_bytes'] / images['file_bytes']:.2f}x",
            f"{per_image / 1e3:,.0f} KB an image (baseline: the JPEG files); limit "
            f"{limits['max_upload'] / 2**20:.0f} MiB a file -> "
            f"{int(limits['max_upload'] // per_image):,} images a file")
        refused = sub.get("refused")
        expected = math.ceil(count / int(limits["max_upload"] // per_image))
        row("images: submit, parts", f"{parts} parts", f"{expected} files", "-",
            ("REFUSED: " + refused.split(";")[0]) if refused else
            f"MiB per part: {', '.join(f'{b / 2**20:.1f}' for b in part_bytes)} (all <= "
            f"{limits['max_upload'] / 2**20:.0f}) "
            f"{verdict(parts == expected and max(part_bytes) <= limits['max_upload'])}")
        sm = sub["marks"]
        row("images: build JSONL in submit", f"{sub['build_s']:.2f} s", f"{ser['seconds']:.2f} s",
            f"{sub['build_s'] / ser['seconds']:.2f}x",
            f"baseline Each.body + json.dumps to a file; {sub['build_s'] / count * 1e3:.1f} ms "
            f"an image; <= {TARGETS['build_ratio']:g}x "
            f"{verdict(sub['build_s'] / ser['seconds'] <= TARGETS['build_ratio'])}")
        row("images: submit end to end", f"{sub['seconds']:.2f} s", f"{ser['seconds']:.2f} s",
            f"{sub['seconds'] / ser['seconds']:.2f}x",
            f"upload {size(sum(part_bytes))} in {sm['upload_s']:.2f} s "
            f"({mb(sum(part_bytes) / sm['upload_s']):,.0f} MB/s, {sm['upload_s'] / parts:.2f} s a "
            f"part), create {sm['create_s']:.2f} s, ledger add {sm['add_s'] * 1000:.0f} ms")
        gi, gn, gs = growth_kb(sub) * 1024, growth_kb(nai) * 1024, growth_kb(ser) * 1024
        ratio = gi / max(1, gn)
        row("images: peak RSS growth, submit vs naive", size(gi), size(gn), f"{ratio:.2f}x",
            f"while building {size(sub['build_rss_kb'] * 1024)}; streamed serialise {size(gs)}; "
            f"<= {TARGETS['image_memory_ratio']:g}x naive "
            f"{verdict(ratio <= TARGETS['image_memory_ratio'])}")
        up = sub["upload_rss_kb"] / 1024
        row("images: RSS growth while uploading a part", f"{up:.1f} MiB", "-", "-",
            f"largest part {max(part_bytes) / 2**20:.0f} MiB; <= {TARGETS['upload_rss_mb']:g} MiB "
            f"{verdict(up <= TARGETS['upload_rss_mb'])}")
        ib, ia = sub["ledger_before"], sub["ledger_after_submit"]
        image_row = (ia["batch_rows_bytes"] - ib["batch_rows_bytes"]) / max(
            1, ia["batch_rows"] - ib["batch_rows"])
        row("images: kept by the job / ledger row", size(sub["request_chars"] / count),
            "-", "-", f"canonical request JSON a row in BatchJob.sent (an image is kept as its "
            f"hash); batch_rows {image_row:,.0f} B a row")
        image_case = ("images", per_image, sub["build_s"] / count, sm["upload_s"] / sum(part_bytes),
                      sub["build_slope_b"], sub["request_chars"] / count, image_row,
                      sm["create_s"] / parts)

    # 3. on paper: 1,000,000 items as one job, at the rates measured above
    m = TARGET_ITEMS
    print()
    print(f"On paper: {m:,} items as one job, at the rates measured above "
          f"(MAX_UPLOAD_BYTES {limits['max_upload'] / 2**20:.0f} MiB, RESULTS_PAGE "
          f"{limits['results_page']:,}, PollSchedule{tuple(schedule)})")
    polls = polls_in(WINDOW, schedule)
    text_kept = kept / n
    slope = statistics.median(r["build_slope_b"] for r in submits)
    cases = [("text", jsonl / n, build / n, upload / jsonl, slope, first["request_chars"] / n,
              per_row, create / first["parts"])]
    if image_case:
        cases.append(image_case)
    page = limits["results_page"]
    for label, line_bytes, build_each, upload_each, rss_each, chars_each, row_b, create_each in cases:
        per_file = int(limits["max_upload"] // line_bytes)
        files = math.ceil(m / per_file)
        total = m * line_bytes
        pages = (m // per_file) * math.ceil(per_file / page) + math.ceil((m % per_file) / page)
        looks = polls  # one status request a look: the pending parts are asked in turn
        print(f"  {label}: JSONL {size(total)} ({line_bytes:,.0f} B an item) -> one job of "
              f"{files:,} batches (parts) of <= {per_file:,} items, every part written to a "
              f"temporary file before the first upload: {size(total)} of disk at once")
        print(f"    calls: {files:,} uploads + {files:,} creates + up to {looks:,} status polls "
              f"(one a look over 24 h at {status_each * 1000:.1f} ms each, against a "
              f"{schedule[2]:g}-{schedule[3]:g} s interval; the {files:,} parts are asked in "
              f"turn, so each part is seen every {files:,} looks) + {pages:,} result pages "
              f"(more with the watcher: a part's last page is re-read after a look with "
              f"progress) = {2 * files + looks + pages:,}")
        print(f"    build {duration(m * build_each)} ({build_each * 1e6:,.0f} us an item), upload "
              f"{duration(total * upload_each)} at the local rate, create "
              f"{duration(files * create_each)} ({create_each:.2f} s a part at the stand-in); "
              f"submit RSS +{size(m * rss_each)} ({rss_each:,.0f} B an item: RSS growth over the "
              "second half of the build)")
        # BatchJob.sent is measured (tracemalloc) for text; other kinds scale it by request JSON
        kept_each = text_kept * chars_each / (first["request_chars"] / n)
        scaled = "" if label == "text" else ", scaled from text by its request JSON"
        print(f"    memory: BatchJob.sent ~{size(m * kept_each)} for the whole job "
              f"({kept_each:,.0f} B a row{scaled}), + BatchJob.rows as results arrive "
              f"(text: {kept_rows / n:,.0f} B a row in all = {size(m * kept_rows / n)}); "
              f"ledger batch_rows {size(m * row_b)} "
              f"({row_b:,.0f} B a row), BatchBook.add one transaction a part "
              f"({per_file:,} rows, ~{add / n * per_file:.1f} s holding the write lock at the "
              f"text rate); row_index JSON (the whole run's index), kept once with the "
              f"first part: {size(m * index_chars)}")
    print(f"  ledger: {m:,} exchanges as results arrive ({size(m * per_exchange)}), "
          f"{math.ceil(m / page):,}+ pages recorded in one transaction each: "
          f"{duration(record / n * m)} at {record / n * 1e6:.0f} us a row; fetch in all "
          f"{duration(fetch / n * m)}")
    print("  limits: the temporary disk (every part is written before the first upload), "
          "progress of a job of thousands of parts (one status request a look, the parts in "
          "turn: a part is seen every few hours), memory of BatchJob.sent/rows (one process "
          "holds the whole job), upload time over a real network")


if __name__ == "__main__":
    sys.exit(main())

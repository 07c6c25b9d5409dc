"""Batch API sizing (issue 13, item 7): what `submit(each)` costs in time, disk and memory, each
against a baseline measured in this run, and an extrapolation to 1,000,000 items on paper.

1. 10,000 short product reviews (generated deterministically): `submit` end to end and the part
   before the upload (building the JSONL: body, canonical form, hash, ledger lookup, one line
   written per item), against a plain loop of `Each.body(i)` + json.dumps to a file ("just
   serialising"); the JSONL size; the upload to the stand-in (multipart streamed from disk);
   peak memory during submit (tracemalloc peak, and RSS growth sampled from /proc/self/status
   every 10 ms) against the naive alternative that builds all the lines in a list first; the
   memory a job keeps (`BatchJob.sent`, then `.rows`); bytes per batch_rows / exchanges row;
   then the results read back (`wait`: status polls, result pages, one ledger write per row).
2. 1,000 one-megapixel JPEG files (generated with Pillow from gradients and noise): JSONL bytes
   per image and in total, build time and peak RSS, against the same two baselines. They do not
   fit one upload (MAX_UPLOAD_BYTES), so `submit` refuses them — after building the whole file;
   the largest prefix that fits is submitted and uploaded as well.
3. 1,000,000 items, computed from the numbers measured above (nothing hard-coded): files and
   jobs, JSONL size, API calls (upload, create, status polls per PollSchedule over 24 h, result
   pages of RESULTS_PAGE), build time, memory, ledger rows and size, and where the limits are.

Every measurement runs in a fresh interpreter; the xAI stand-in (from tests/, Batch API latency
0) runs in a child process, so it shares neither the measured GIL nor the measured memory.
GROK_LEDGER points at a temporary file per run. Timed runs are medians of --reps.

What it found (2 cores; the exact numbers are in the output):
- Text: building the JSONL in `submit` costs 3.3-4x the bare serialisation (130-170 us an item:
  canonical form with every string redacted, SHA-256, one ledger lookup per item); the JSONL is
  ~435 B an item, so one 100 MiB file holds ~240,000 reviews and 1,000,000 need 5 files, i.e.
  5 jobs (one file per job), 2-3 minutes of building, ~1,450 status polls per job in 24 h.
- Memory: streaming the JSONL does not keep `submit` flat for text: every SentRow holds the
  canonical JSON of its request (about the line's size), so submit peaks near the naive list
  (~1.5 KB an item); a job keeps ~1 KB an item in `BatchJob.sent`, ~1.5 KB with `.rows`
  (~1.5 GB for 1,000,000 rows). For images streaming works: ~30 MB against ~1 GB for the naive
  list (canonical rows hold a hash, not the image). The upload streams: RSS does not grow.
- Images: ~324 KB of JSONL per 1 MP JPEG (base64 of ~242 KB), so ~320 fit a file: 1,000 need
  4 jobs, 1,000,000 need ~3,100 jobs (~4.5 M status polls); `submit` builds the whole file
  (323 MB, ~8 s for 1,000) before the size check refuses it.
- Ledger: ~825 B per batch_rows row (request JSON and the question, which repeats its text),
  a job's rows in one transaction (~2 s for a full text file); reading results writes two
  autocommit transactions per row (the exchange, then `mark_recorded`), ~220 us a row.
Run: python bench/batch_api.py [--items 10000] [--images 1000] [--reps 3] [--skip-images]
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
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

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


# -- the stand-in, in its own process ---------------------------------------------------------------
def serve(conn) -> None:
    """Child process: a stand-in; ("set", knobs) sets Batch API knobs, ("stop",) ends it."""
    from standin_batches import batch_state
    from xai_standin import FAKE_KEY, XaiStandin

    srv = XaiStandin(api_key=FAKE_KEY).start()
    conn.send(srv.base_url)
    while True:
        command = conn.recv()
        if command[0] == "stop":
            break
        if command[0] == "set":
            state = batch_state(srv)
            state.files.clear()  # uploaded bodies are large: keep the server's memory flat
            state.batches.clear()
            for name, value in command[1].items():
                setattr(state, name, value)
            conn.send("ok")
    srv.stop()


class Server:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, there = ctx.Pipe()
        self.child = ctx.Process(target=serve, args=(there,), daemon=True)
        self.child.start()
        self.base_url = self.conn.recv()

    def set(self, **knobs) -> None:
        self.conn.send(("set", knobs))
        self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.child.join(10)


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
def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


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
    from grok_magic import batch_api, batch_job
    from grok_magic.batch_api import CHAT_URL, BatchAPI, BatchTooLargeError
    from grok_magic.batch_book import BatchBook
    from grok_magic.batch_job import BatchJob, PollSchedule, submit
    from grok_magic.client import GrokClient
    from grok_magic.each import Each

    if kind == "text":
        each = Each(TEXT_TEMPLATE, [review(i) for i in range(count)], model=MODEL, max_tokens=8)
    else:
        files = sorted(Path(folder).glob("*.jpg"))[:count]
        each = Each(IMAGE_TEMPLATE, files, model=MODEL, max_tokens=40)
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

        setattr(owner, name, wrapper)

    timed(BatchAPI, "upload", "upload",
          before=lambda self, path, *a: marks.setdefault("jsonl_bytes", os.path.getsize(path)))
    timed(BatchAPI, "create", "create")
    timed(BatchBook, "add", "add")
    timed(BatchJob, "fetch", "fetch")
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
        result["jsonl_bytes"] = marks.get("jsonl_bytes")
    end = time.perf_counter()
    sampler.stop()
    result.update(seconds=end - start, rss0_kb=rss0, rss_peak_kb=sampler.peak(start, end),
                  hwm_kb=status_kb("VmHWM") if hwm_ok else None, marks=marks)
    if "upload_start" in marks:
        result["build_s"] = marks["upload_start"] - start
        upload_end = marks.get("upload_end", end)
        result["upload_rss_kb"] = (sampler.peak(marks["upload_start"], upload_end)
                                   - sampler.at(marks["upload_start"]))
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        result["trace_peak"] = peak
        gc.collect()
        result["kept_after_submit"] = tracemalloc.get_traced_memory()[0]
    result["ledger_before"] = ledger_before
    if job is not None:
        result["sent"] = len(job.sent)
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
    result["limits"] = {"max_upload": batch_api.MAX_UPLOAD_BYTES,
                        "results_page": batch_api.RESULTS_PAGE}
    result["schedule"] = [getattr(batch_job.PollSchedule(), f) for f in
                          ("first", "factor", "floor", "cap", "quick_for")]
    shutil.rmtree(out_path.parent, ignore_errors=True)
    return result


def run_child(place: Path, base_url: str, mode: str, kind: str, count: int, *,
              folder: Path | None = None, trace: bool = False, results: bool = False) -> dict:
    from xai_standin import FAKE_KEY

    ledger = Path(tempfile.mkdtemp(prefix="ledger-", dir=place)) / "ledger.sqlite"
    env = {**os.environ, "XAI_API_KEY": FAKE_KEY, "XAI_BASE_URL": base_url,
           "GROK_LEDGER": str(ledger), "HOME": str(place)}
    env.pop("GROK_REPLAY", None)
    command = [sys.executable, __file__, "--child", mode, kind, str(count),
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
    from grok_magic.batch_job import PollSchedule

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
        server.set(latency=0.0, max_file_bytes=100 * 1024 * 1024)
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
                images["submit"] = run_child(place, server.base_url, "submit", "image",
                                             args.images, folder=folder)
                limit = images["submit"]["limits"]["max_upload"]
                per_line = images["serialise"]["jsonl_bytes"] / args.images
                fit = min(args.images, int(limit * 0.99 / per_line))
                server.set(latency=0.0, expire_after=0)  # uploaded and created, not answered
                images["fit"] = run_child(place, server.base_url, "submit", "image", fit,
                                          folder=folder)
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
        f"upload {upload * 1000:.0f} ms, create {create * 1000:.0f} ms (the stand-in checks every "
        f"line), ledger add {add * 1000:.0f} ms")
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
    row("text: kept by the job after submit", size(kept), "-", "-",
        f"{kept / n:,.0f} B an item (BatchJob.sent: canonical request JSON per row)")
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
    fetch = first["marks"].get("fetch_s", float("nan"))
    pages = first["calls"]["results"]
    row("text: results read back (wait)", f"{first.get('wait_s', 0):.2f} s", "-", "-",
        f"{first.get('rows', 0):,} rows; {first.get('polls', 0)} polls, {pages} result pages; "
        f"fetch {fetch:.2f} s = {fetch / n * 1e6:.0f} us a row; exchanges {per_exchange:,.0f} B "
        "a row")

    per_image = None
    if images:
        count = args.images
        ser, nai, sub, fit = images["serialise"], images["naive"], images["submit"], images["fit"]
        per_image = ser["jsonl_bytes"] / count
        print()
        print(f"{count:,} one-megapixel JPEGs ({images['file_bytes'] / count / 1e3:,.0f} KB a "
              f"file on disk, generated in {images['generated_s']:.0f} s)")
        row("images: JSONL size", size(ser["jsonl_bytes"]), size(images["file_bytes"]),
            f"{ser['jsonl_bytes'] / images['file_bytes']:.2f}x",
            f"{per_image / 1e3:,.0f} KB an image (baseline: the JPEG files); limit "
            f"{limits['max_upload'] / 2**20:.0f} MiB a file -> {limits['max_upload'] / per_image:,.0f}"
            " images a file")
        refused = sub.get("refused")
        row("images: submit (refused at upload)", f"{sub['seconds']:.2f} s",
            f"{ser['seconds']:.2f} s", f"{sub['seconds'] / ser['seconds']:.2f}x",
            ("refused after building the whole file: " + refused.split(";")[0]) if refused
            else "not refused")
        gi, gn, gs = growth_kb(sub) * 1024, growth_kb(nai) * 1024, growth_kb(ser) * 1024
        ratio = gi / max(1, gn)
        row("images: RSS growth, submit vs naive list", size(gi), size(gn), f"{ratio:.2f}x",
            f"streamed serialise {size(gs)}; <= {TARGETS['image_memory_ratio']:g}x naive "
            f"{verdict(ratio <= TARGETS['image_memory_ratio'])}")
        fit_n = fit["count"]
        fit_rate = fit["jsonl_bytes"] / fit["marks"]["upload_s"]
        row(f"images: submit the {fit_n} that fit one file", f"{fit['seconds']:.2f} s", "-", "-",
            f"build {fit['build_s']:.2f} s ({fit['build_s'] / fit_n * 1e3:.1f} ms an image), "
            f"upload {size(fit['jsonl_bytes'])} in {fit['marks']['upload_s']:.2f} s "
            f"({mb(fit_rate):,.0f} MB/s), create {fit['marks']['create_s']:.2f} s")
        fit_up = fit["upload_rss_kb"] / 1024
        row("images: RSS growth while uploading", f"{fit_up:.1f} MiB", "-", "-",
            f"file {fit['jsonl_bytes'] / 2**20:.0f} MiB; <= {TARGETS['upload_rss_mb']:g} MiB "
            f"{verdict(fit_up <= TARGETS['upload_rss_mb'])}; submit RSS growth "
            f"{size(growth_kb(fit) * 1024)}")

    # 3. on paper: 1,000,000 items at the rates measured above
    m = TARGET_ITEMS
    print()
    print(f"On paper: {m:,} items, at the rates measured above "
          f"(MAX_UPLOAD_BYTES {limits['max_upload'] / 2**20:.0f} MiB, RESULTS_PAGE "
          f"{limits['results_page']:,}, PollSchedule{tuple(schedule)})")
    polls = polls_in(WINDOW, schedule)
    cases = [("text", jsonl / n, build / n, upload / jsonl, sub_rss / n)]
    if per_image:
        fit = images["fit"]
        # RSS per image: the slope between the two image submits (the encode cache is fixed)
        extra = args.images - fit["count"]
        slope = (max(0.0, (growth_kb(images["submit"]) - growth_kb(fit)) * 1024 / extra)
                 if extra > 0 else growth_kb(fit) * 1024 / fit["count"])
        cases.append(("images", per_image, fit["build_s"] / fit["count"],
                      fit["marks"]["upload_s"] / fit["jsonl_bytes"], slope))
    for label, line_bytes, build_each, upload_each, rss_each in cases:
        per_file = int(limits["max_upload"] // line_bytes)
        files = math.ceil(m / per_file)
        total = m * line_bytes
        pages = files * math.ceil(per_file / limits["results_page"])
        print(f"  {label}: JSONL {size(total)} ({line_bytes:,.0f} B an item) -> {files:,} files of "
              f"<= {per_file:,} items; one file per job, so {files:,} jobs (each its own submit)")
        print(f"    calls: {files:,} uploads + {files:,} creates + up to {files * polls:,} status "
              f"polls ({polls:,} per job over 24 h) + {pages:,} result pages (more with the "
              f"watcher: the last page is re-read after each poll with progress) = "
              f"{2 * files + files * polls + pages:,}")
        print(f"    build {duration(m * build_each)} in all ({build_each * 1e6:,.0f} us an item), "
              f"upload {duration(total * upload_each)} at the local rate; as one submit: "
              f"RSS +{size(m * rss_each)} ({rss_each:,.0f} B an item), temp file {size(total)}, "
              "refused only after it is built")
    rows_bytes = m * per_row
    rows_job = int(limits["max_upload"] // (jsonl / n))
    print(f"  ledger: {m:,} batch_rows ({size(rows_bytes)}) + {m:,} exchanges as results arrive "
          f"({size(m * per_exchange)}); BatchBook.add inserts a job's {rows_job:,} rows in one "
          f"transaction (~{add / n * rows_job:.1f} s holding the write lock; {add / n * m:.0f} s "
          f"for all {m:,} in one job); row_index JSON {size(m * index_chars)} "
          "in one batches cell")
    print(f"  memory per job: BatchJob.sent ~{size(kept / n * rows_job)} for {rows_job:,} rows "
          f"(~{size(kept)} per {n:,}), with .rows ~{size(kept_rows / n * rows_job)}; "
          f"{size(kept_rows / n * m)} if {m:,} rows were one job")
    print(f"  results: {math.ceil(m / limits['results_page']):,} pages; fetch at "
          f"{fetch / n * 1e6:.0f} us a row (two ledger transactions each: the exchange, then "
          f"mark_recorded) = {duration(fetch / n * m)} for {m:,} rows")
    print("  limits: the upload size per file (jobs = files, each job watched and polled on its "
          "own), submit building the whole file before the size check, memory of "
          "BatchJob.sent/rows per job, the one-transaction batch_rows insert, per-row ledger "
          "writes when fetching")


if __name__ == "__main__":
    sys.exit(main())

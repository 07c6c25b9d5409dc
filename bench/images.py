"""Benchmark: a 24-megapixel JPEG through to_image_part versus naive Pillow -> PNG -> base64."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from PIL import Image, ImageChops

from grok_magic.inputs.images import clear_cache, to_image_part

WIDTH, HEIGHT = 6000, 4000
REPEATS = 5
TARGET_SECONDS = 0.15
TARGET_MB = 1.5
TARGET_SPEEDUP = 10.0
MB = 1_000_000


def make_photo(path: Path) -> None:
    """A photo-like JPEG: smooth shapes and gradients plus sensor-like noise, quality 92."""
    import numpy as np

    rng = np.random.default_rng(24)
    small_w, small_h = WIDTH // 8, HEIGHT // 8
    y, x = np.mgrid[0:small_h, 0:small_w] / small_h
    channels = [
        128 + 90 * np.sin(3 * x + 2 * y + phase) * np.cos(5 * y - x + phase) for phase in rng.uniform(0, 6, 3)
    ]
    for _ in range(40):  # soft blobs stand in for objects in the scene
        cx, cy, r = rng.uniform(0, small_w / small_h), rng.uniform(0, 1), rng.uniform(0.02, 0.2)
        mask = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
        for channel, shift in zip(channels, rng.uniform(-60, 60, 3), strict=True):
            channel[mask] += shift
    small = np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)
    base = Image.fromarray(small).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    noise = Image.merge("RGB", [Image.effect_noise((WIDTH, HEIGHT), 10) for _ in range(3)])
    ImageChops.add(base, noise, 1.0, -128).save(path, "JPEG", quality=92)


def fast(path: Path) -> int:
    """Encoded bytes sent by to_image_part (data URL length), cache cleared first."""
    clear_cache()
    return len(to_image_part(path)["image_url"]["url"])


def naive(path: Path) -> int:
    """What a first attempt does: decode all of it, save PNG, base64."""
    with Image.open(path) as image:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return len(url)


METHODS = {"fast": fast, "naive": naive}


def peak_rss() -> int | None:
    """Peak resident bytes of this process (VmHWM: unlike ru_maxrss, not inherited at fork)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) * 1024 for line in status.splitlines() if "VmHWM" in line)


def measure_once(method: str, path: Path) -> dict:
    """Run one method once in this (fresh) process: seconds, output size and peak memory."""
    Image.preinit()
    rss_before = peak_rss()
    tracemalloc.start()
    start = time.perf_counter()
    url_bytes = METHODS[method](path)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = peak_rss()
    return {
        "seconds": seconds,
        "url_bytes": url_bytes,
        "python_peak": peak,
        "rss_growth": None if rss_before is None else rss_after - rss_before,
    }


def memory_in_subprocess(method: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.images", "--measure", method, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--measure", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_once(args.measure[0], Path(args.measure[1]))))
        return

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo-24mp.jpg"
        make_photo(path)
        print(
            f"source: {WIDTH}×{HEIGHT} JPEG, {path.stat().st_size / MB:.1f} MB on disk; "
            f"{os.cpu_count()} CPUs; {args.repeats} interleaved runs each"
        )
        fast(path), naive(path)  # warm-up: lazy imports and the file in the page cache
        times: dict[str, list[float]] = {"fast": [], "naive": []}
        sizes: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, method in METHODS.items():
                start = time.perf_counter()
                sizes[name] = method(path)
                times[name].append(time.perf_counter() - start)
        memory = {name: memory_in_subprocess(name, path) for name in METHODS}

    median = {name: statistics.median(values) for name, values in times.items()}
    speedup = median["naive"] / median["fast"]
    fast_mb = sizes["fast"] / MB
    print(f"{'':24}{'to_image_part':>16}{'naive PNG':>14}   target")
    print(
        f"{'median seconds':24}{median['fast']:>16.3f}{median['naive']:>14.3f}"
        f"   ≤ {TARGET_SECONDS} s  {verdict(median['fast'] <= TARGET_SECONDS)}"
    )
    print(
        f"{'speed-up':24}{speedup:>16.1f}×{'':14}  ≥ {TARGET_SPEEDUP:.0f}×  "
        f"{verdict(speedup >= TARGET_SPEEDUP)}"
    )
    print(
        f"{'data URL MB':24}{fast_mb:>16.2f}{sizes['naive'] / MB:>14.1f}"
        f"   ≤ {TARGET_MB} MB  {verdict(fast_mb <= TARGET_MB)}"
    )
    for key, title in (("python_peak", "peak Python MB"), ("rss_growth", "peak RSS growth MB")):
        cells = [memory[name][key] for name in METHODS]
        if None not in cells:
            print(f"{title:24}{cells[0] / MB:>16.1f}{cells[1] / MB:>14.1f}")
    for name in METHODS:
        print(f"{name} runs (s): " + ", ".join(f"{t:.3f}" for t in times[name]))


if __name__ == "__main__":
    main()

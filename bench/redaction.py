"""Redaction in every form against the one-form search it replaced, and its time per KB by size.

Run `python -m bench.redaction [--reps 5]`. A random 84-character key is registered. For each
shape of text (prose, prose mentioning xAI, a long base64 run, text full of invisible
characters, and text full of key pieces) and each size (32 KB, 256 KB, 1 MB) the script times
`redact()` — every form: the key, 8-character runs, 6-character pieces, base64 at three
alignments, hex, zero-width interleaving, percent-encoding, lookalikes — and, in the same run,
the baseline: a single `str.find` of the lowered key plus the lookalike regex (what a one-form
redaction costs at least). It prints medians, the ratio to the baseline, and µs per KB; the
target is that µs/KB at 1 MB stays within 2× of µs/KB at 32 KB (linear). Exit code 1 if not.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SIZES = (32 * 1024, 256 * 1024, 1024 * 1024)
FLAT = 2.0


def shapes(key: str) -> dict[str, str]:
    rng = random.Random(5)
    words = "the model said that xAI and its API give a p-value of 0.05 for this".split()
    return {
        "prose": " ".join(rng.choice(words) for _ in range(200)) + " ",
        "base64 run": base64.b64encode(bytes(rng.randrange(256) for _ in range(3000))).decode(),
        "invisibles": "".join(c + "\u200b" for c in "zero width everywhere "),
        "key pieces": f"{key[5:12]} and {key[30:37]} then {key[50:56]} ",
    }


def median_seconds(fn, text: str, reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    from grok_magic.safety.redaction import KEY_LOOKALIKE, redact, register_secret

    rng = random.Random(1)
    key = "xai-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                           for _ in range(80))
    register_secret(key)
    lowered = key.lower()

    def baseline(text: str) -> str:
        text.lower().find(lowered)
        return KEY_LOOKALIKE.sub("xai-***", text)

    redact("warm up")
    failed = False
    print(f"{'shape':<12} {'size':>8} {'redact ms':>10} {'baseline ms':>12} {'ratio':>7} "
          f"{'µs/KB':>8}")
    for name, unit in shapes(key).items():
        per_kb = []
        for size in SIZES:
            text = (unit * (size // len(unit) + 1))[:size]
            ours = median_seconds(redact, text, args.reps)
            base = median_seconds(baseline, text, args.reps)
            per_kb.append(ours * 1e6 / (size / 1024))
            print(f"{name:<12} {size // 1024:>6} K {ours * 1e3:>10.2f} {base * 1e3:>12.2f} "
                  f"{ours / base:>6.1f}x {per_kb[-1]:>8.1f}")
        growth = per_kb[-1] / per_kb[0]
        verdict = "ok" if growth <= FLAT else "NOT LINEAR"
        failed |= growth > FLAT
        print(f"{name:<12} µs/KB at 1 MB ÷ at 32 KB: {growth:.2f} (target ≤ {FLAT}) {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

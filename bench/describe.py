"""Describing a value: describe_value() on a 1,000,000-row DataFrame against str(df) and to_string().

Run `python -m bench.describe [--rows 1000000] [--reps 15]`. The frame mixes int, float, str,
datetime and category columns. In the same run the script times `describe_value(df)` (target
≤ 50 ms), the baseline `str(df)` (what `{df}` sent before), `df.to_string()` on a 10,000-row
slice (why a description never renders rows it does not show), and describe_value() on a
10,000,000-element float array (min/mean/max read every element); it prints medians, ratios and
output sizes, and exits non-zero if the target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGET_MS = 50.0
SLICE_ROWS = 10_000
ARRAY_ELEMENTS = 10_000_000


def make_frame(rows: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": np.arange(rows),
        "price": rng.normal(100, 15, rows),
        "name": pd.Series([f"customer {i:07d}" for i in range(rows)], dtype=object),
        "when": pd.date_range("2024-01-01", periods=rows, freq="s"),
        "segment": pd.Categorical(rng.choice(["retail", "wholesale", "online"], rows)),
    })


def median_ms(run, reps: int) -> tuple[float, str]:
    """The median wall time of `run()` in ms over `reps` runs (after one warm-up), and its output."""
    out = run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()

    import numpy as np

    from grok_magic.inputs.describe import describe_value

    frame = make_frame(args.rows)
    head = frame.iloc[:SLICE_ROWS]
    array = np.random.default_rng(1).normal(size=ARRAY_ELEMENTS)

    ours, described = median_ms(lambda: describe_value(frame), args.reps)
    base, printed = median_ms(lambda: str(frame), args.reps)
    slow, rendered = median_ms(lambda: head.to_string(), max(3, args.reps // 5))
    arr, array_text = median_ms(lambda: describe_value(array), max(3, args.reps // 3))

    print(f"frame                        : {args.rows:,} rows × {frame.shape[1]} columns "
          f"({', '.join(str(t) for t in frame.dtypes)})")
    print(f"describe_value(df)           : median {ours:8.2f} ms, {len(described):>9,} chars "
          f"(target <= {TARGET_MS:.0f} ms) {'OK' if ours <= TARGET_MS else 'OVER TARGET'}")
    print(f"str(df)  (baseline)          : median {base:8.2f} ms, {len(printed):>9,} chars "
          f"(describe/str {ours / base:.2f}x)")
    print(f"df[:{SLICE_ROWS:,}].to_string()      : median {slow:8.2f} ms, {len(rendered):>9,} chars "
          f"(to_string/describe {slow / ours:.0f}x, on 1/{args.rows // SLICE_ROWS} of the rows)")
    print(f"describe_value({ARRAY_ELEMENTS // 1_000_000}M floats)   : median {arr:8.2f} ms, "
          f"{len(array_text):>9,} chars (min/mean/max over every element)")
    print("\n--- describe_value(df) ---")
    print(described)
    return 0 if ours <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())

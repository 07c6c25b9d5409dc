"""Complexity checks for parsers and renderers of what a model or server sends: the same shape
timed at two sizes apart, compared as time per KB (linear work gives ~1, quadratic ~ the size
ratio). Not timing targets: speed itself is measured in bench/."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FLAT = 3.0  # the most time per KB may grow from the small size to the large one


def seconds(fn: Callable, text, reps: int) -> float:
    """The best of `reps` timings of `fn(text)`, with the cyclic garbage collector paused as
    timeit does (its passes scale with everything the test process holds, not with `text`)."""
    best = float("inf")
    for _ in range(reps):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn(text)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def growth(fn: Callable, make: Callable, small: int, large: int) -> float:
    """Time per KB at `large` over time per KB at `small` for `fn(make(size))`; measured again
    with more repeats before a high value counts (a busy machine, a collection)."""
    small_text, large_text = make(small), make(large)
    fn(small_text)  # warm up (imports, regex caches)
    ratio = 0.0
    for reps in (2, 4):
        per_small = seconds(fn, small_text, reps * 2) / len(small_text)
        per_large = seconds(fn, large_text, reps) / len(large_text)
        ratio = per_large / max(per_small, 1e-12)
        if ratio < FLAT:
            break
    return ratio

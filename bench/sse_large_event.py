"""One large SSE event in small chunks: iter_sse_data on a 5 MB event in 1 KB chunks vs one chunk.

Run `python -m bench.sse_large_event [--mb 5] [--chunk 1024] [--reps 5] [--old-mb 1]`. The event
is a single `data:` line shaped like a Responses stream's generated image (base64 in JSON), with
CRLF line ends. Both feedings of the same bytes are timed, interleaved, and the script prints both
medians and their ratio (target ≤ 2). For scale it also times the line splitter as it was before
(`self._buffer + chunk` on every chunk, reimplemented below) on a smaller event, next to the
current one on the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGET_RATIO = 2.0


class BeforeLineSplitter:
    """The line splitter before issue 10: copies its whole buffer on every chunk."""

    def __init__(self) -> None:
        self._buffer = b""
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        if not chunk:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        data = self._buffer + chunk
        if b"\r" in data:
            if data.endswith(b"\r"):
                self._pending_cr = True
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pieces = data.split(b"\n")
        self._buffer = pieces.pop()
        return [p.decode("utf-8", "replace") for p in pieces]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, b""
        return [rest.decode("utf-8", "replace")] if rest else []


def before_iter_sse_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """grok_magic.xai.sse.iter_sse_data's loop with the old splitter (state and [DONE] as there)."""
    from grok_magic.xai.sse import DONE, SSEDecoder

    splitter, decoder = BeforeLineSplitter(), SSEDecoder()
    for chunk in chunks:
        for line in splitter.feed(chunk):
            data = decoder.line(line)
            if data == DONE:
                return
            if data is not None:
                yield data
    for line in [*splitter.flush(), ""]:
        data = decoder.line(line)
        if data is not None and data != DONE:
            yield data


def make_body(size: int) -> tuple[bytes, int]:
    """One `data:` event of about `size` bytes (base64 image JSON), then [DONE]; CRLF ends."""
    raw = random.Random(size).randbytes(size * 3 // 4)
    b64 = base64.b64encode(raw).decode()
    event = ('{"type":"response.image_generation_call.partial_image","output_index":0,'
             f'"partial_image_index":0,"partial_image_b64":"{b64}"}}')
    body = b"data: " + event.encode() + b"\r\n\r\n" + b"event: done\r\ndata: [DONE]\r\n\r\n"
    return body, len(event)


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def run(decode, chunks: list[bytes], expected_len: int) -> float:
    start = time.perf_counter()
    events = list(decode(chunks))
    elapsed = time.perf_counter() - start
    assert len(events) == 1 and len(events[0]) == expected_len, [len(e) for e in events]
    return elapsed


def median_of(decode, chunks: list[bytes], expected_len: int, reps: int) -> float:
    return statistics.median(run(decode, chunks, expected_len) for _ in range(reps))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0, help="event size in MB (default 5)")
    parser.add_argument("--chunk", type=int, default=1024, help="chunk size in bytes (1024)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--old-mb", type=float, default=1.0,
                        help="event size for the before/after comparison (default 1)")
    args = parser.parse_args()

    from grok_magic.xai.sse import iter_sse_data

    body, event_len = make_body(int(args.mb * 1_000_000))
    whole, pieces = [body], chunked(body, args.chunk)

    # Warm-up, then interleaved timed runs.
    run(iter_sse_data, whole, event_len)
    run(iter_sse_data, pieces, event_len)
    one_times, chunk_times = [], []
    for _ in range(args.reps):
        one_times.append(run(iter_sse_data, whole, event_len))
        chunk_times.append(run(iter_sse_data, pieces, event_len))
    one, many = statistics.median(one_times), statistics.median(chunk_times)
    ratio = many / one

    small_body, small_len = make_body(int(args.old_mb * 1_000_000))
    small_pieces = chunked(small_body, args.chunk)
    old_reps = max(1, min(args.reps, 3))
    before = median_of(before_iter_sse_data, small_pieces, small_len, old_reps)
    after = median_of(iter_sse_data, small_pieces, small_len, old_reps)

    kb = f"{args.chunk / 1024:g} KB"
    print(f"event                  : one data: line of {len(body) / 1e6:.2f} MB, "
          f"{len(pieces)} chunks of {kb}")
    print(f"one chunk              : median {one * 1000:8.1f} ms over {args.reps} runs")
    print(f"{kb + ' chunks':<23}: median {many * 1000:8.1f} ms over {args.reps} runs")
    print(f"ratio                  : {ratio:.2f}x (target <= {TARGET_RATIO}x) "
          f"{'OK' if ratio <= TARGET_RATIO else 'OVER TARGET'}")
    print(f"before vs now, {len(small_body) / 1e6:.2f} MB in {kb} chunks "
          f"(median of {old_reps}):")
    print(f"  before (buffer+chunk): {before * 1000:8.1f} ms")
    print(f"  now                  : {after * 1000:8.1f} ms  ({before / after:.0f}x faster)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())

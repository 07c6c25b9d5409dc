"""Decoding a recorded Responses stream: SSE splitter + accumulator vs a raw json.loads of its events.

Run `python -m bench.responses_decode [--reps 15]`. The recorded X-search stream (about 350 KB,
about 1,800 events) is framed as the stand-in sends it (`data: {event}\\n\\n`, one HTTP chunk per
event) and decoded two ways in the same run, interleaved: grok_magic's whole client path
(grok_magic.xai.sse.iter_sse_json, then ResponsesAccumulator.fold on every event) and a bare
`json.loads` of each event line. Times are CPU time of this thread (the machine may be
busy); the script prints the fastest and the median run of each and their ratio (target <= 1.5),
then where the time goes: SSE framing alone (iter_sse_data), the fold alone (events already
parsed), the decoding followed by Response.finish (which masks any API key in the joined text:
grok_magic.safety.redaction's percent-encoding scan is most of that), and the whole ResponsesStream
(the client's stream loop and finish included) over a fake HTTP body.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RECORDING = ROOT / "tests" / "fixtures" / "xai-recorded" / "responses" / "xai-x-search-tool.chunks.txt"
TARGET_RATIO = 1.5


def load() -> tuple[list[str], list[bytes]]:
    """The event lines, and the same events as SSE chunks (one per event)."""
    lines = [line for line in RECORDING.read_text("utf-8").splitlines() if line.strip()]
    return lines, [f"data: {line}\n\n".encode() for line in lines]


def raw_json(lines: list[str], _chunks: list[bytes]) -> int:
    loads = json.loads
    return sum(1 for line in lines if loads(line))


def _decode(chunks: list[bytes]):
    """Our SSE splitter and the Responses fold over the stream: (accumulator, events)."""
    from grok_magic.xai.responses_events import ResponsesAccumulator
    from grok_magic.xai.sse import iter_sse_json

    accumulator = ResponsesAccumulator()
    fold = accumulator.fold
    count = 0
    for event in iter_sse_json(chunks):
        fold(event)
        count += 1
    return accumulator, count


def client_path(_lines: list[str], chunks: list[bytes]) -> int:
    accumulator, count = _decode(chunks)
    response = accumulator.response
    assert response.finish_reason == "stop" and len(response.citations) == 20
    return count


def with_finish(lines: list[str], chunks: list[bytes]) -> int:
    """The decoding, then Response.finish (joining the text and masking any key in it)."""
    accumulator, count = _decode(chunks)
    accumulator.response.finish()
    return count


def sse_only(_lines: list[str], chunks: list[bytes]) -> int:
    from grok_magic.xai.sse import iter_sse_data

    return sum(1 for _ in iter_sse_data(chunks))


class FakeHTTP:
    """What ResponseStream reads: `iter_content` yields the chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def iter_content(self, chunk_size=None):
        return iter(self.chunks)

    def close(self) -> None:
        pass


def whole_stream(_lines: list[str], chunks: list[bytes]) -> int:
    from grok_magic.xai.response import Response
    from grok_magic.xai.responses_events import ResponsesStream

    stream = ResponsesStream(FakeHTTP(chunks), Response(), None)
    count = sum(1 for _ in stream)
    assert len(stream.response.citations) == 20
    return count


def timed(decode, lines: list[str], chunks: list[bytes]) -> float:
    start = time.thread_time()
    count = decode(lines, chunks)
    elapsed = time.thread_time() - start
    assert count == len(lines), (count, len(lines))
    return elapsed


def fold_time(lines: list[str]) -> float:
    from grok_magic.xai.responses_events import ResponsesAccumulator

    events = [json.loads(line) for line in lines]
    fold = ResponsesAccumulator().fold
    start = time.thread_time()
    for event in events:
        fold(event)
    return time.thread_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()

    lines, chunks = load()
    decoders = {"raw json.loads": raw_json, "sse + accumulator": client_path,
                "  sse framing alone": sse_only, "  + Response.finish": with_finish,
                "  whole ResponsesStream": whole_stream}
    for decode in decoders.values():  # warm-up: imports, caches
        timed(decode, lines, chunks)
    times: dict[str, list[float]] = {name: [] for name in decoders}
    folds = []
    for _ in range(args.reps):  # interleaved, so a busy moment hits every path alike
        for name, decode in decoders.items():
            times[name].append(timed(decode, lines, chunks))
        folds.append(fold_time(lines))
    times["  fold alone"] = folds
    best = {name: min(t) for name, t in times.items()}
    middle = {name: statistics.median(t) for name, t in times.items()}
    raw = best["raw json.loads"]
    ratio = best["sse + accumulator"] / raw

    size = sum(len(c) for c in chunks)
    print(f"stream                   : {RECORDING.name}, {size / 1000:.0f} KB, {len(lines)} events")
    for name in ("raw json.loads", "sse + accumulator", "  sse framing alone", "  fold alone",
                 "  + Response.finish", "  whole ResponsesStream"):
        print(f"{name:<25}: best {best[name] * 1000:7.2f} ms, median {middle[name] * 1000:7.2f} ms "
              f"over {args.reps} runs ({best[name] / raw:.2f}x raw)")
    print(f"ratio (best runs)        : {ratio:.2f}x (target <= {TARGET_RATIO}x) "
          f"{'OK' if ratio <= TARGET_RATIO else 'OVER TARGET'}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())

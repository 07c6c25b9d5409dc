"""Stream overhead: GrokClient.stream() against raw requests + json.loads on the same SSE bytes.

Run `python -m bench.stream_overhead [--events 5000] [--reps 7]`. The local xAI stand-in (from
tests/) serves one stream of N content events, each its own HTTP chunk, from a child process so
that the server does not share the measured interpreter's GIL. Both readers fetch the same bytes
from the same server, interleaved; the script prints both medians and their ratio (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGET_RATIO = 1.5
MODEL = "grok-4-fast-non-reasoning"


def make_events(count: int) -> list[dict]:
    """`count` chat.completion.chunk events shaped like api.x.ai's, then finish and usage."""
    base = {"id": "b3c1d2e4-0000-4000-8000-000000000000", "object": "chat.completion.chunk",
            "created": 1773345550, "model": MODEL}
    events = [{**base, "choices": [{"index": 0, "delta": {"content": f"word{i} "}}],
               "system_fingerprint": "fp_3d7ed3b779"} for i in range(count)]
    events[0]["choices"][0]["delta"]["role"] = "assistant"
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "system_fingerprint": "fp_3d7ed3b779"})
    events.append({**base, "choices": [], "usage": {
        "prompt_tokens": 10, "completion_tokens": count, "total_tokens": 10 + count,
        "prompt_tokens_details": {"text_tokens": 10, "audio_tokens": 0, "image_tokens": 0,
                                  "cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
        "num_sources_used": 0, "cost_in_usd_ticks": 5000 * count}})
    return events


def serve(conn, count: int, streams: int) -> None:
    """Child process: a stand-in with `streams` copies of the stream queued; port to `conn`."""
    from tests.support.xai_standin import FAKE_KEY, Stream, XaiStandin

    srv = XaiStandin(api_key=FAKE_KEY).start()
    srv.enqueue(*[Stream(events=make_events(count)) for _ in range(streams)])
    conn.send(srv.base_url)
    conn.recv()  # wait until told to stop
    srv.stop()


def baseline(session, url: str, headers: dict, body: bytes) -> int:
    """Raw requests: split the bytes into lines, json.loads every `data:` line but [DONE]."""
    loads = json.loads
    events, buffer = 0, b""
    with session.post(url, data=body, headers=headers, stream=True, timeout=(10, 60)) as r:
        r.raise_for_status()
        for chunk in r.iter_content(chunk_size=None):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    loads(line[6:])
                    events += 1
    return events


def client_stream(client, body: dict) -> int:
    stream = client.stream(body)
    deltas = sum(1 for _ in stream)
    assert stream.response.complete and stream.response.usage is not None
    return deltas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    import requests

    from grok_magic.settings import Settings
    from grok_magic.xai.client import GrokClient
    from tests.support.xai_standin import FAKE_KEY

    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=serve, args=(there, args.events, 2 * (args.reps + 1)), daemon=True)
    child.start()
    try:
        base_url = here.recv()
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Count."}]}
        client = GrokClient(Settings(api_key=FAKE_KEY, base_url=base_url))
        session = requests.Session()
        raw_body = json.dumps({**body, "stream": True, "stream_options": {"include_usage": True}})
        raw_headers = {"Authorization": f"Bearer {FAKE_KEY}", "Content-Type": "application/json",
                       "Accept": "text/event-stream"}
        url = f"{base_url}/chat/completions"

        # Warm-up (connections, imports), then interleaved timed runs.
        expected = args.events + 2
        assert baseline(session, url, raw_headers, raw_body.encode()) == expected
        assert client_stream(client, body) == expected
        raw_times, client_times = [], []
        for _ in range(args.reps):
            start = time.perf_counter()
            baseline(session, url, raw_headers, raw_body.encode())
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            client_stream(client, body)
            client_times.append(time.perf_counter() - start)
    finally:
        here.send("stop")
        child.join(10)

    raw, ours = statistics.median(raw_times), statistics.median(client_times)
    ratio = ours / raw
    print(f"events per stream      : {args.events} (+ finish and usage chunks)")
    print(f"raw requests+json.loads: median {raw * 1000:8.1f} ms over {args.reps} runs")
    print(f"GrokClient.stream()    : median {ours * 1000:8.1f} ms over {args.reps} runs")
    print(f"ratio                  : {ratio:.2f}x (target <= {TARGET_RATIO}x) "
          f"{'OK' if ratio <= TARGET_RATIO else 'OVER TARGET'}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())

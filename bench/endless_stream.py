"""An endless stream (no end marker, ever) from a stand-in in its own process, stopped at the cap.

Run `python -m bench.endless_stream [--chars 2000000] [--piece "and on "]`. The client streams a
normal short answer (the baseline), then an answer that never ends, in word-sized events like a
real token stream, with `max_answer_chars` = --chars. It prints the time to stop, the characters
kept, and the memory each took — peak RSS growth (VmHWM, reset before each run) and the
tracemalloc peak (a second run of each, as tracing slows it) — side by side with the baseline,
against the target: stopped at the cap, its peak memory a few times max_answer_chars bytes
(tracemalloc peak <= 4 bytes per character, RSS growth <= 8). Before the cap, the kernel grew
from 87 MB to 3,374 MB in 15 s of such a stream.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from bench.standin_process import StandinProcess, status_kb  # noqa: E402

TRACED_BYTES_PER_CHAR = 4.0
RSS_BYTES_PER_CHAR = 8.0
BODY = {"model": "grok-4", "messages": [{"role": "user", "content": "Tell me everything"}]}


def handler(srv, command):
    from tests.support.xai_standin import Reply

    if command[0] == "short":
        srv.enqueue(Reply("A normal, short answer of a few words."))
    elif command[0] == "endless":
        srv.enqueue(Reply.endless(command[1]))
    return "queued"


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def one_answer(standin, client, command: tuple, trace: bool) -> dict:
    from grok_magic.errors import AnswerLimitError

    standin.ask(*command)
    gc.collect()
    rss_before = status_kb("VmRSS")
    reset_peak_rss()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    reason = "complete"
    try:
        response = client.stream(BODY).until_done()
    except AnswerLimitError as err:
        response, reason = err.response, err.message
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return {"seconds": seconds, "chars": len(response.text), "reason": reason,
            "rss_growth": (status_kb("VmHWM") - rss_before) * 1024, "traced": traced}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=2_000_000,
                        help="max_answer_chars (default 2,000,000, the default setting)")
    parser.add_argument("--piece", default="and on ", help="the text repeated without end")
    args = parser.parse_args()

    from grok_magic.settings import Settings
    from grok_magic.xai.client import GrokClient

    standin = StandinProcess(handler)
    try:
        from tests.support.xai_standin import FAKE_KEY

        client = GrokClient(Settings(api_key=FAKE_KEY, base_url=standin.base_url,
                                     max_answer_chars=args.chars))
        one_answer(standin, client, ("short",), trace=False)  # imports and the connection
        runs = {}
        for name, command in (("baseline", ("short",)), ("endless", ("endless", args.piece))):
            timed = one_answer(standin, client, command, trace=False)
            timed["traced"] = one_answer(standin, client, command, trace=True)["traced"]
            runs[name] = timed
        client.close()
    finally:
        standin.stop()

    base, endless = runs["baseline"], runs["endless"]
    cap = args.chars
    traced_per_char = (endless["traced"] - base["traced"]) / cap
    rss_per_char = max(endless["rss_growth"] - base["rss_growth"], 0) / cap
    stopped = endless["chars"] >= cap and "max_answer_chars" in endless["reason"]
    ok = stopped and traced_per_char <= TRACED_BYTES_PER_CHAR and rss_per_char <= RSS_BYTES_PER_CHAR

    print(f"max_answer_chars       : {cap:,}; endless events of {args.piece!r}")
    print(f"{'':23}  {'baseline (short)':>18}  {'endless':>14}")
    print(f"{'time to end':<23}: {base['seconds'] * 1000:15.1f} ms  {endless['seconds']:12.2f} s")
    print(f"{'characters kept':<23}: {base['chars']:18,}  {endless['chars']:14,}")
    print(f"{'peak RSS growth':<23}: {base['rss_growth'] / 1e6:15.2f} MB  "
          f"{endless['rss_growth'] / 1e6:11.2f} MB")
    print(f"{'tracemalloc peak':<23}: {base['traced'] / 1e6:15.2f} MB  "
          f"{endless['traced'] / 1e6:11.2f} MB")
    print(f"how it ended           : {endless['reason']}")
    print(f"stopped at the cap     : {'yes' if stopped else 'NO'}")
    print(f"memory per character   : tracemalloc {traced_per_char:.2f} B (target <= "
          f"{TRACED_BYTES_PER_CHAR:g}), RSS {rss_per_char:.2f} B (target <= {RSS_BYTES_PER_CHAR:g}) "
          f"{'OK' if ok else 'OVER TARGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

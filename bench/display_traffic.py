"""Display traffic of a streamed answer: bytes handed to the front end per answer character.

Run `python -m bench.display_traffic [--kb 1000] [--rate 4000] [--shapes a,b]`. Each shape
(tests/render_shapes.py, plus "aligned table": two right-aligned columns) is streamed through an
AnswerStream at `rate` characters a second (a delta every 10 ms, on a fake clock, so ~10
updates a second as in a notebook) into two sinks at once: a recorder adding up the HTML and
text of every sink call, and the real NotebookSink with IPython's display replaced by a counter
of the bundles it would send (display and update messages, all their data). It prints both per
answer character, the final output's own size (the answer rendered once, plus its text), and
the total streaming time. Baseline, in the same run: the old policy (every update re-renders
and resends the whole unfinished block) on the first `--old-kb` KB of each shape. Target:
<= 3 bytes per character (or, for an answer whose own output is bigger, at most 0.25 more
than that output). Exit code 1 if a shape misses it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGET = 3.0
MARKUP_SLACK = 0.25  # what streaming may add to an answer whose own output exceeds the target


class Tee:
    """A sink that counts what each call hands over and passes it on to `real`."""

    def __init__(self, real) -> None:
        self.real, self.bytes, self.tails = real, 0, 0

    def thinking(self, line):
        self.real.thinking(line)

    def tail(self, html, text):
        self.bytes += len(html) + len(text)
        self.tails += 1
        self.real.tail(html, text)

    def freeze(self, html, text):
        self.bytes += len(html) + len(text)
        self.real.freeze(html, text)

    def end(self, html, text, note, kind):
        self.bytes += len(html) + len(text)
        self.real.end(html, text, note, kind)

    def reasoning(self, text):
        pass


def notebook_sink():
    """The real NotebookSink, its display counted instead of shown."""
    from grok_magic.notebook.display import NotebookSink

    sink = NotebookSink()
    sink.sent = 0

    class Handle:
        def update(self, bundle, raw=True):
            sink.sent += sum(len(v) for v in bundle.values())

    def display(bundle, raw=True, display_id=False):
        sink.sent += sum(len(v) for v in bundle.values())
        return Handle()

    sink._display = display
    return sink


def stream(text: str, rate: int, view_class) -> tuple[Tee, object, float]:
    now = [0.0]
    real = notebook_sink()
    tee = Tee(real)
    view = view_class(tee, clock=lambda: now[0])
    real.sent = 0  # the thinking line is not the answer's
    step = max(1, rate // 100)
    start = time.perf_counter()
    for at in range(0, len(text), step):
        now[0] += 0.01
        view.feed(text[at : at + step])
    view.finish()
    return tee, real, time.perf_counter() - start


def old_stream_class():
    """AnswerStream's old policy: every update splits the tail and resends all of it."""
    from grok_magic.notebook.answer_view import AnswerStream
    from grok_magic.safety.markdown import render_html, split_point

    class OldPolicy(AnswerStream):
        def flush(self) -> None:
            if not self._pending:
                return
            self._take_pending()
            tail = self._tail_text()
            point = split_point(tail)
            if point:
                self.sink.freeze(render_html(tail[:point]), tail[:point])
                tail = tail[point:]
                self._tail = [tail]
                self._tail_chars = len(tail)
            if tail:
                self.sink.tail(render_html(tail, highlight=False), tail)

    return OldPolicy


def main() -> int:
    from grok_magic.notebook.answer_view import AnswerStream
    from grok_magic.safety.markdown import render_html
    from tests.support.render_shapes import SHAPES, aligned_table

    shapes = {**SHAPES, "aligned table": aligned_table}
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=int, default=1000, help="answer size in KB")
    parser.add_argument("--rate", type=int, default=4000, help="characters per second")
    parser.add_argument("--old-kb", type=int, default=50, help="size for the old policy")
    parser.add_argument("--shapes", default=",".join(shapes))
    args = parser.parse_args()
    old_policy = old_stream_class()
    failed = False
    print(f"{args.kb} KB answers at {args.rate:,} characters/s; bytes per answer character")
    print(f"{'shape':28s} {'sink calls':>10s} {'notebook':>9s} {'final':>6s} {'redraws':>8s} "
          f"{'time s':>7s} | {'old policy':>10s} {'old time':>8s} ({args.old_kb} KB)")
    for name in args.shapes.split(","):
        text = shapes[name](args.kb * 1000)
        tee, real, seconds = stream(text, args.rate, AnswerStream)
        final = (len(render_html(text)) + len(text)) / len(text)
        small = shapes[name](args.old_kb * 1000)
        old_tee, _, old_seconds = stream(small, args.rate, old_policy)
        ratio = tee.bytes / len(text)
        # Some answers are bigger than the target once rendered (a style on every table cell):
        # then what streaming adds on top of the final output is what counts.
        status = "ok" if ratio <= TARGET else "markup" if ratio <= final + MARKUP_SLACK else "MISSED"
        failed |= status == "MISSED"
        print(f"{name:28s} {ratio:10.2f} {real.sent / len(text):9.2f} {final:6.2f} "
              f"{tee.tails:8d} {seconds:7.2f} | {old_tee.bytes / len(small):10.1f} "
              f"{old_seconds:8.2f}  {status}", flush=True)
    print(f"sink calls: HTML + text of every tail/freeze/end call (target <= {TARGET:.0f}); "
          "notebook: bytes of the display messages NotebookSink sends; final: the answer's own "
          "output (rendered once, plus its text); redraws: tail updates sent; markup: over the "
          f"target only by the output itself (streaming added <= {MARKUP_SLACK})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Rendering and streaming an answer cost time and display bytes linear in its length, whatever
its shape: everyday answers, adversarial delimiters and nesting (tests/render_shapes.py).

The linearity checks are complexity checks, not timing targets: they time the same shape at two
sizes 8x apart inside the test and compare the time per KB (quadratic work shows as ~8x; the
bound is 3x, and a failing shape is measured again before it counts). Speed itself is in
bench/render.py and bench/display_traffic.py.
"""

from __future__ import annotations

import pytest

from grok_magic.notebook.answer_view import LIVE_CHARS, AnswerStream
from grok_magic.safety.markdown import render_html, split_point
from tests.support import linear
from tests.support.linear import FLAT
from tests.support.magic_helpers import visible_text
from tests.support.render_shapes import ADVERSARIAL, SHAPES, adversarial, aligned_table, random_units, repeat

SMALL, LARGE = 4_000, 32_000
TRAFFIC = 3.0  # display bytes per answer character, over every sink call
RANDOM_UNITS = random_units(12)


def growth(fn, make) -> float:
    """Time per KB at LARGE over time per KB at SMALL (~1 when linear, ~8 when quadratic)."""
    return linear.growth(fn, make, SMALL, LARGE)


@pytest.mark.parametrize("name", [*SHAPES, *ADVERSARIAL])
def test_render_time_per_kb_stays_flat(name):
    make = SHAPES.get(name) or (lambda size: adversarial(name, size))
    assert growth(render_html, make) < FLAT


@pytest.mark.parametrize("prefix,unit", RANDOM_UNITS, ids=[repr(u) for _, u in RANDOM_UNITS])
def test_render_time_of_random_markup_stays_flat(prefix, unit):
    assert growth(render_html, lambda size: repeat(unit, size, prefix)) < FLAT


@pytest.mark.parametrize("name", ["one paragraph", "one code block", "long table",
                                  "nested lists and quotes", "unclosed \\("])
def test_split_point_time_per_kb_stays_flat(name):
    assert growth(split_point, SHAPES[name]) < FLAT


def test_streaming_time_per_kb_stays_flat():
    assert growth(lambda text: stream(text), SHAPES["one paragraph"]) < FLAT


# -- display traffic ---------------------------------------------------------------------------
class Recorder:
    """A sink that adds up what each call hands over, and keeps the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.bytes = 0
        self.bar_bytes = 0  # the code each code block's bar carries (for Copy and Insert below)

    def thinking(self, line):
        pass

    def tail(self, html, text):
        self.calls.append(("tail", html, text))
        self.bytes += len(html) + len(text)

    def freeze(self, html, text):
        self.calls.append(("freeze", html, text))
        self.bytes += len(html) + len(text)

    def end(self, html, text, note, kind):
        self.calls.append(("end", html, text))
        self.bytes += len(html) + len(text)

    def reasoning(self, text):
        pass

    def code_block(self, code, language):  # the bar's data: the block's code, once
        self.calls.append(("code_block", code, language))
        self.bar_bytes += len(code) + len(language)

    def shown(self) -> list[tuple]:
        """The pieces that stay on screen: frozen ones and the last tail."""
        return [c for c in self.calls if c[0] not in ("tail", "code_block")]


def stream(text: str, chars_per_second: int = 4_000, **options) -> Recorder:
    """`text` through an AnswerStream at that rate (a delta every 10 ms, a fake clock)."""
    now = [0.0]
    sink = Recorder()
    view = AnswerStream(sink, clock=lambda: now[0], **options)
    step = max(1, chars_per_second // 100)
    for at in range(0, len(text), step):
        now[0] += 0.01
        view.feed(text[at : at + step])
    view.finish()
    return sink


@pytest.mark.parametrize("name", [*SHAPES])
def test_display_traffic_stays_within_three_times_the_answer(name):
    text = SHAPES[name](120_000)
    sink = stream(text)
    assert sink.bytes <= TRAFFIC * len(text), sink.bytes / len(text)
    # each code block's bar carries its code once more, and nothing else does
    bars = [c for c in sink.calls if c[0] == "code_block"]
    assert sink.bar_bytes == sum(len(c[1]) + len(c[2]) for c in bars) <= len(text)
    # and what stays on screen is the answer, whole, each piece rendered as it would be alone
    shown = sink.shown()
    assert "".join(c[2] for c in shown) == text
    assert all(c[1] == render_html(c[2]) for c in shown)


@pytest.mark.parametrize("rate", [400, 40_000])
def test_display_traffic_is_bounded_at_any_rate(rate):
    text = SHAPES["paragraphs"](60_000) + SHAPES["one code block"](30_000)
    assert stream(text, rate).bytes <= TRAFFIC * len(text)


def test_markup_heavy_answers_pay_their_markup_and_little_more():
    """Right-aligned columns put a style on every cell: the final table alone is ~3.4x its text;
    streaming adds at most a fifth of the answer on top."""
    text = aligned_table(120_000)
    final = len(render_html(text)) + len(text)
    assert stream(text).bytes <= final + 0.25 * len(text)


def test_a_long_block_shows_its_end_while_it_grows_then_renders_whole():
    code = SHAPES["one code block"](60_000)
    sink = stream(code[:-4])  # the fence not closed yet when it ends
    tails = [c for c in sink.calls if c[0] == "tail"]
    windows = [c for c in tails if "characters above" in c[1]]
    assert windows and all(len(c[1]) < 4 * LIVE_CHARS and c[2] == "" for c in windows)
    last = windows[-1][1]
    assert "language-python" in last  # shown under its fence: still a code block
    note, shown = visible_text(last).split("\n", 1)
    assert note.startswith("… ") and len(shown) > 1_000 and "\n" + shown.rstrip("\n") in code
    end = sink.calls[-1]
    assert end[0] == "end" and end[1] == render_html(code[:-4]) and end[2] == code[:-4]


def test_a_long_table_window_keeps_its_header():
    sink = stream(SHAPES["long table"](40_000))
    windows = [c[1] for c in sink.calls if c[0] == "tail" and "characters above" in c[1]]
    assert windows and all("<th>name</th>" in w for w in windows)


def test_unclosed_math_streams_as_text_and_renders_whole():
    text = SHAPES["unclosed \\("](80_000)
    sink = stream(text)
    end = sink.calls[-1]
    assert end[1] == render_html(text) and "mathjax_process" not in end[1]
    assert visible_text(end[1]).strip() == text.replace("\\(", "(").strip()

"""AnswerStream, the view model behind every answer area: a recording sink shows what each view gets."""

from __future__ import annotations

import io

from grok_magic.notebook.answer_view import EMPTY_NOTE, AnswerStream
from grok_magic.notebook.display import TerminalSink, answer_block
from grok_magic.safety.markdown import render_html
from tests.support.magic_helpers import magic_shell, run, visible_text
from tests.support.xai_standin import Reply


class Recorder:
    """A sink that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def thinking(self, line):
        self.calls.append(("thinking", line))

    def tail(self, html, text):
        self.calls.append(("tail", html, text))

    def freeze(self, html, text):
        self.calls.append(("freeze", html, text))

    def end(self, html, text, note, kind):
        self.calls.append(("end", html, text, note, kind))

    def reasoning(self, text):
        self.calls.append(("reasoning", text))

    def code_block(self, code, language):
        self.calls.append(("code_block", code, language))

    def kinds(self):
        return [c[0] for c in self.calls]


def make(**kw):
    now = [0.0]
    sink = Recorder()
    return sink, AnswerStream(sink, clock=lambda: now[0], **kw), now


def test_thinking_then_blocks_frozen_once_and_tail_updated():
    sink, view, now = make()
    view.feed(reasoning="hmm")
    now[0] = 1.0
    view.feed(reasoning=" more")
    assert sink.calls[-1] == ("thinking", "Grok is thinking… 1 s · 8 characters of reasoning")
    now[0] = 2.0
    view.feed("# Title\n\nfirst para")
    now[0] = 3.0
    view.feed(" goes on\n\nsecond")
    view.finish()
    frozen = [c for c in sink.calls if c[0] == "freeze"]
    assert [c[2] for c in frozen] == ["# Title\n\n", "first para goes on\n\n"]
    end = sink.calls[-2]
    assert end[0] == "end" and end[2] == "second" and end[3] == "" and "<p>second</p>" in end[1]
    assert sink.calls[-1] == ("reasoning", "hmm more")
    assert view.text == "# Title\n\nfirst para goes on\n\nsecond"


def test_a_tick_counts_the_waiting_seconds_up_and_never_draws_over_the_text():
    sink, view, now = make()
    now[0] = 1.6
    assert view.tick() and sink.calls[-1] == ("thinking", "Grok is thinking… 2 s")
    now[0] = 1.7
    assert view.tick() and len(sink.calls) == 2  # paced like every thinking update
    view.feed("The answer")
    now[0] = 5.0
    assert not view.tick() and sink.kinds().count("thinking") == 2


def test_updates_are_paced():
    sink, view, now = make()
    for i in range(100):
        now[0] = i * 0.01  # 100 deltas in one second
        view.feed(f"w{i} ")
    assert sink.kinds().count("tail") <= 11


def test_empty_and_incomplete_answers_get_notes():
    sink, view, _ = make()
    view.finish()
    assert sink.calls[-1][0] == "end" and sink.calls[-1][3] == EMPTY_NOTE
    sink, view, _ = make()
    view.feed("partial")
    view.finish("stopped: you interrupted", "stopped")
    assert sink.calls[-1][2:] == ("partial", "stopped: you interrupted", "stopped")
    view.finish("again")  # a second finish changes nothing
    assert sink.kinds().count("end") == 1


def test_code_language_shows_everything_as_one_block():
    sink, view, now = make(code_language="json")
    view.feed('{"a": "```"}\n\n')
    now[0] = 1
    view.feed('{"b": 2}')
    view.finish()
    assert "freeze" not in sink.kinds()
    html = sink.calls[-1][1]
    assert 'class="language-json"' in html and '{"a": "```"}' in visible_text(html)


def test_activity_shows_in_the_waiting_line_and_crlf_is_normalised():
    sink, view, now = make()
    view.activity("searching the web: 'p-values'…")
    assert sink.calls[-1] == ("thinking", "searching the web: 'p-values'… 0 s")
    view.feed("a\r\n\r\nb")
    view.finish()
    assert sink.calls[-1][2] == "b" and sink.calls[0][0] == "thinking"


def test_freeze_chars_keeps_small_blocks_in_the_tail():
    sink, view, now = make(freeze_chars=200)
    view.feed("short\n\nblocks\n\n")
    now[0] = 1
    view.feed("x")
    assert "freeze" not in sink.kinds()


def test_a_long_tail_shows_only_its_end_and_sends_no_text_for_it():
    sink, view, now = make()
    paragraph = "word " * 4_000  # 20,000 characters, one block
    for at in range(0, len(paragraph), 500):
        now[0] += 1
        view.feed(paragraph[at : at + 500])
    windows = [c for c in sink.calls if c[0] == "tail" and "characters above" in c[1]]
    assert windows and all(c[2] == "" and len(c[1]) < 5_000 for c in windows)
    view.finish()
    end = sink.calls[-1]
    assert end[1] == render_html(paragraph) and end[2] == paragraph


def test_a_long_block_that_ends_is_frozen_whole():
    sink, view, now = make()
    code = "```python\n" + "x = 1\n" * 3_000 + "```\n\n" + "After the code.\n\n" * 600
    for at in range(0, len(code), 400):
        now[0] += 1
        view.feed(code[at : at + 400])
    view.feed("The end.")
    view.finish()
    frozen = [c for c in sink.calls if c[0] == "freeze"]
    assert "".join(c[2] for c in frozen) + sink.calls[-1][2] == code + "The end."
    block = next(c for c in frozen if "```python" in c[2])
    assert block[1] == render_html(block[2]) and visible_text(block[1]).count("x = 1") == 3_000


def test_terminal_prints_every_character_once():
    out = io.StringIO()
    now = [0.0]
    view = AnswerStream(TerminalSink(out), clock=lambda: now[0])
    text = "para one\n\npara two goes on\n\n" + "long " * 3_000 + "\n\nlast"
    for at in range(0, len(text), 7):
        now[0] += 0.05
        view.feed(text[at : at + 7])
    view.finish()
    assert out.getvalue() == text + "\n"


# -- through the magic, to the stand-in --------------------------------------------------------
def answer_bytes(out) -> int:
    """Bytes of HTML and text in every display message the cell sent (updates included)."""
    return sum(len(v) for o in out.raw for k, v in o.data.items() if k in ("text/html", "text/plain"))


def test_a_huge_paragraph_streams_in_linear_traffic_and_renders_whole(xai_env):
    from tests.support.render_shapes import one_paragraph

    text = one_paragraph(300_000).strip()
    xai_env.enqueue(Reply(content=text, chunk_chars=600, delay=0.002))
    out = run(magic_shell(show_usage=False), "%%grok\nWrite one long paragraph")
    assert out.error is None, out.everything()[-500:]
    answer = out.outputs[-1]
    # the answer's first display: our container, with our CSS
    assert answer["text/html"] == answer_block(render_html(text), styled=True)
    assert answer["text/plain"] == text
    assert answer_bytes(out) <= 3 * len(text)


def test_unclosed_bracket_math_streams_and_shows_as_text(xai_env):
    text = "\\(a " * 10_000  # 40 KB: once 275 s of a frozen cell
    xai_env.enqueue(Reply(content=text, chunk_chars=400, delay=0.002))
    out = run(magic_shell(show_usage=False), "%%grok\nMath")
    assert out.error is None, out.everything()[-500:]
    html = out.html()
    assert "mathjax_process" not in html
    assert visible_text(out.outputs[-1]["text/html"]).strip() == ("(a " * 10_000).strip()
    assert answer_bytes(out) <= 3 * len(text)

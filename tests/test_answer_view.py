"""AnswerStream, the view model behind every answer area: a recording sink shows what each view gets."""

from __future__ import annotations

from magic_helpers import visible_text

from grok_magic.notebook.answer_view import EMPTY_NOTE, AnswerStream


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
    assert sink.calls[-1] == ("thinking", "⏳ Grok is thinking… 1 s · 8 characters of reasoning")
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
    assert sink.calls[-1] == ("thinking", "⏳ searching the web: 'p-values'… 0 s")
    view.feed("a\r\n\r\nb")
    view.finish()
    assert sink.calls[-1][2] == "b" and sink.calls[0][0] == "thinking"


def test_freeze_chars_keeps_small_blocks_in_the_tail():
    sink, view, now = make(freeze_chars=200)
    view.feed("short\n\nblocks\n\n")
    now[0] = 1
    view.feed("x")
    assert "freeze" not in sink.kinds()

"""`%grok What is a p-value?` asks Grok (IPython would read the trailing `?` as help), while
`%grok?`, `%grok ?` and `%%grok?` stay IPython's help — in a real shell, with `%load_ext`,
through the real client to the stand-in."""

from __future__ import annotations

import pytest

from grok_magic.notebook.question_line import ask_questions_with_question_marks
from tests.support.magic_helpers import run, shell


@pytest.fixture
def ip(xai_env):
    """The shared shell with grok_magic loaded the way a user loads it; unloaded afterwards."""
    ip_ = shell()
    ip_.run_line_magic("reload_ext", "grok_magic")
    yield ip_
    ip_.run_line_magic("unload_ext", "grok_magic")


def sent_questions(srv) -> list[str]:
    return [r.as_chat["messages"][-1]["content"] for r in srv.answer_requests]


def test_a_one_line_question_keeps_its_question_mark(ip, xai_env):
    out = run(ip, "%grok What is a p-value?")
    assert out.error is None, out.everything()
    assert "not found" not in out.everything()
    assert sent_questions(xai_env) == ["What is a p-value?"]
    assert ip.user_ns["_grok"].complete
    out = run(ip, "%grok What's the difference between 'mean' and \"median\"??")
    assert out.error is None, out.everything()
    assert sent_questions(xai_env)[-1] == "What's the difference between 'mean' and \"median\"??"


def test_every_top_level_grok_line_of_a_cell_is_a_question(ip, xai_env):
    out = run(ip, "topic = 'variance'\n%grok Is $topic a squared unit?\nafter = 1")
    assert out.error is None, out.everything()
    assert sent_questions(xai_env) == ["Is variance a squared unit?"]  # expanded like %grok
    assert ip.user_ns["after"] == 1


def test_help_stays_help_and_sends_nothing(ip, xai_env):
    for source in ("%grok?", "%grok ?", "%grok??", "%%grok?"):
        out = run(ip, source)
        assert out.error is None, out.everything()
        assert "Ask Grok" in out.everything(), source  # the magic's docstring
    assert xai_env.answer_requests == []


def test_a_cell_body_ending_in_a_question_mark_is_sent_as_typed(ip, xai_env):
    out = run(ip, "%%grok\nWhat is a p-value?\n%grok and this line?")
    assert out.error is None, out.everything()
    assert sent_questions(xai_env) == ["What is a p-value?\n%grok and this line?"]


def test_everything_else_is_left_exactly_as_it_was():
    cells = ["%grok?\n", "%grok ?\n", "%grok -q?\n", "x = 1\n", "value?\n", "%%grok?\n",
             "s = '''\n%grok inside a string?\n'''\n", "f(1,\n%grok in brackets?\n)\n",
             "if x:\n    %grok indented?\n", "%grokker what?\n", "%grok no question mark\n"]
    for cell in cells:
        lines = cell.splitlines(keepends=True)
        assert ask_questions_with_question_marks(list(lines)) == lines, cell


def test_unload_removes_the_transformer(ip):
    assert ask_questions_with_question_marks in ip.input_transformers_cleanup
    ip.run_line_magic("unload_ext", "grok_magic")
    assert ask_questions_with_question_marks not in ip.input_transformers_cleanup
    ip.run_line_magic("load_ext", "grok_magic")
    ip.run_line_magic("reload_ext", "grok_magic")
    assert ip.input_transformers_cleanup.count(ask_questions_with_question_marks) == 1

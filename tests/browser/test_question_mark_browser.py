"""`%grok What is a p-value?` typed in real JupyterLab asks Grok (IPython would read the trailing
"?" as a help request and print "Object `value` not found."); `%grok?` alone still shows help."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import open_notebook, run_all, write_notebook

pytestmark = pytest.mark.browser


def type_and_run(page, text: str) -> None:
    """Type into the cell being edited and run it (Shift+Enter on the last cell opens a new one
    below, in edit mode: the next text goes there)."""
    page.keyboard.type(text)
    page.keyboard.press("Shift+Enter")


def test_a_one_line_question_ending_in_a_question_mark_is_asked(jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    write_notebook(jupyterlab.root, "question.ipynb", ["%load_ext grok_magic"])
    open_notebook(page, jupyterlab, "question.ipynb")
    run_all(page)
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    cells.nth(0).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")  # runs it again and opens a new cell below
    expect(cells).to_have_count(2)
    type_and_run(page, "%grok What is a p-value?")
    answer = cells.nth(1).locator(".jp-OutputArea-output")
    expect(answer.first).to_contain_text("What is a p-value?", timeout=60_000)
    expect(cells.nth(1).locator(".grok-usage").first).to_be_visible()
    expect(cells.nth(1)).not_to_contain_text("not found")
    assert srv.answer_requests[-1].as_chat["messages"][-1]["content"] == "What is a p-value?"

    asked = len(srv.answer_requests)
    expect(cells).to_have_count(3)
    type_and_run(page, "%grok?")
    expect(cells.nth(2).locator(".jp-OutputArea-output").first).to_contain_text(
        "Docstring", timeout=60_000)  # IPython's help for the magic, in the pager output
    assert len(srv.answer_requests) == asked  # help sends nothing

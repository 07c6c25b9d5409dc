"""The answer area in a real JupyterLab: a failure is one calm paragraph (no red error box saying
it again, no word cut at a line end) while the cell still fails; tables and headings in answers
are laid out for reading (text columns left, `---:` columns right, headings smaller)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.xai_standin import FAKE_KEY, Reply

from .conftest import (
    assert_nothing_ran,
    open_notebook,
    run_all,
    screenshot,
    watch_outputs,
    write_notebook,
)

pytestmark = pytest.mark.browser

WRONG_KEY = "xai-wrongwrongwrongwrong"

# Where each line of an element's text starts, and the character before it: a line that starts
# inside a word (neither it nor the one before is a space or a hyphen) is a mid-word break.
MID_WORD_BREAKS_JS = r"""
(el) => {
  const range = document.createRange();
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let top = null, before = ' ', lines = 1;
  const breaks = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    for (let i = 0; i < node.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      const box = range.getClientRects()[0];
      if (!box || box.width === 0) { before = node.data[i]; continue; }
      const ch = node.data[i];
      if (top !== null && box.top > top + 2) {
        lines += 1;
        if (!/[\s-]/.test(before) && !/\s/.test(ch))
          breaks.push(node.data.slice(Math.max(0, i - 8), i) + '|' + node.data.slice(i, i + 8));
      }
      top = box.top; before = ch;
    }
  }
  return {lines, breaks};
}
"""


def test_a_failed_cell_shows_one_calm_paragraph_and_still_fails(jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    write_notebook(jupyterlab.root, "failure.ipynb", [
        f"import os\nos.environ['XAI_API_KEY'] = '{WRONG_KEY}'\n%load_ext grok_magic",
        "%%grok\nHello",
        "print('the cell after the failure ran')",
    ])
    page.set_viewport_size({"width": 900, "height": 900})  # the paragraph wraps over lines
    watch_outputs(page)
    open_notebook(page, jupyterlab, "failure.ipynb")
    run_all(page, expect_error=True)

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    failed = cells.nth(1)
    paragraph = failed.locator(".grok-failed")
    expect(paragraph).to_have_count(1)
    expect(paragraph).to_be_visible()
    text = paragraph.inner_text()
    assert text.startswith("no answer: The API key was not accepted (HTTP 400): Incorrect API key")
    assert "%grok key" in text
    # Said once: the error output (kept for Run all and nbval) shows nothing of it.
    shown = failed.locator(".jp-OutputArea").inner_text()
    assert shown.count("The API key was not accepted") == 1, shown
    stderr = failed.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(stderr).to_have_count(1)  # the cell did fail...
    expect(stderr).to_be_hidden()  # ...and no pink box says it again
    # Not red, and no word cut at a line end.
    colour = paragraph.evaluate("el => getComputedStyle(el).color")
    error_colour = page.evaluate("() => getComputedStyle(document.body)"
                                 ".getPropertyValue('--jp-error-color1').trim()")
    assert colour not in ("rgb(211, 47, 47)", error_colour), colour
    layout = paragraph.evaluate(MID_WORD_BREAKS_JS)
    assert layout["lines"] >= 2 and layout["breaks"] == [], layout
    # The cell counts as failed: Run All stopped there, the next cell never ran.
    expect(cells.nth(2).locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[ \]:$"))
    expect(cells.nth(2).locator(".jp-OutputArea-output")).to_have_count(0)
    outputs = "\n".join(page.locator(".jp-OutputArea").all_inner_texts())
    assert WRONG_KEY not in outputs and FAKE_KEY not in page.content()
    assert_nothing_ran(page)
    screenshot(page, "failure-paragraph")


TABLE_ANSWER = (
    "# Results\n\n"
    "| Name | Notes | Count |\n"
    "|------|-------|------:|\n"
    "| alpha | the first one | 12 |\n"
    "| beta | a longer note than the others | 3 |\n\n"
    "Some text after the table.\n"
)


def test_answer_tables_align_text_left_and_numbers_right_and_headings_are_smaller(
        jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    srv.enqueue(Reply(content=TABLE_ANSWER))
    write_notebook(jupyterlab.root, "tables.ipynb", [
        {"cell_type": "markdown", "source": "# A notebook heading"},
        "%load_ext grok_magic",
        "%%grok\nA table, please",
    ])
    watch_outputs(page)
    open_notebook(page, jupyterlab, "tables.ipynb")
    run_all(page)

    answer = page.locator(".jp-CodeCell").nth(1).locator(".grok-answer .grok-md")
    table = answer.locator("table")
    expect(table).to_have_count(1)
    align = table.evaluate("t => [...t.rows].map(r => [...r.cells].map("
                           "c => getComputedStyle(c).textAlign))")
    assert align == [["left", "left", "right"]] * 3, align
    answer_h1 = answer.locator("h1", has_text="Results")
    expect(answer_h1).to_be_visible()
    notebook_h1 = page.locator(".jp-MarkdownCell h1", has_text="A notebook heading")
    expect(notebook_h1).to_be_visible()
    size = answer_h1.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    normal = notebook_h1.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    body = answer.locator("p", has_text="Some text").evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)")
    assert body < size < 0.7 * normal, (body, size, normal)
    assert_nothing_ran(page)
    screenshot(page, "answer-table")

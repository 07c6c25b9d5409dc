"""Code blocks in an answer, in real JupyterLab: each has a bar with its language, Copy and Insert
below. Clicking Copy puts the code on the clipboard; clicking Insert below adds a new code cell
under the answer's cell holding the code, not run. The block itself is drawn as a block (a
background and a border, a margin after it), and nothing in the answer runs.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.xai_standin import Reply

from .conftest import open_notebook, run_all, screenshot, write_notebook, xss_fired

pytestmark = pytest.mark.browser

CODE = "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0"
SHELL = "echo '<img src=x onerror=\"window.__pwned=1\">'"
ANSWER = (f"Here is a fix:\n\n```python\n{CODE}\n```\n\nAnd to check:\n\n```bash\n{SHELL}\n```\n\n"
          "That is all.")
CELL_TIMEOUT_MS = 120_000


def test_copy_and_insert_below_on_a_code_block(jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    srv.enqueue(Reply(content=ANSWER))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=jupyterlab.base_url)
    write_notebook(jupyterlab.root, "code_bar.ipynb",
                   ["%load_ext grok_magic", "%%grok\nFix my mean", "print('the last cell')"])
    open_notebook(page, jupyterlab, "code_bar.ipynb")
    run_all(page, timeout=CELL_TIMEOUT_MS)

    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(3)
    answer = cells.nth(1)
    bars = answer.locator(".grok-code-bar")
    expect(bars).to_have_count(2)
    expect(bars.nth(0).locator(".grok-code-lang")).to_have_text("python")
    expect(bars.nth(1).locator(".grok-code-lang")).to_have_text("bash")
    pres = answer.locator(".grok-md pre")
    expect(pres).to_have_count(2)
    # The bar sits right above its block.
    bar_box, pre_box = bars.nth(0).bounding_box(), pres.nth(0).bounding_box()
    assert 0 <= pre_box["y"] - (bar_box["y"] + bar_box["height"]) < 30, (bar_box, pre_box)
    # The block is drawn as a block: a background and a border, and room after it.
    style = pres.nth(0).evaluate(
        "p => { const s = getComputedStyle(p); return [s.backgroundColor, s.borderTopStyle,"
        " parseFloat(s.marginBottom)]; }")
    assert style[0] not in ("rgba(0, 0, 0, 0)", "transparent") and style[1] != "none", style
    assert style[2] >= 6, style

    # Copy: the clipboard gets the code, exactly.
    bars.nth(0).locator("button.grok-code-copy").click()
    expect(bars.nth(0).locator(".grok-code-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == CODE + "\n"
    bars.nth(1).locator("button.grok-code-copy").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == SHELL + "\n"

    # Insert below: a new code cell right under the answer's cell, holding the code, not run.
    cells.nth(2).click()  # another cell is the active one before the click
    bars.nth(0).locator("button.grok-code-insert").click()
    expect(cells).to_have_count(4)
    new = cells.nth(2)
    expect(new).to_have_class(_code_cell)
    expect(new.locator(".jp-InputPrompt")).to_have_text("[ ]:")  # never run
    source = new.locator(".cm-content").evaluate(
        "el => [...el.querySelectorAll('.cm-line')].map(l => l.textContent).join('\\n')")
    assert source.strip() == CODE
    expect(bars.nth(0).locator(".grok-code-status")).to_have_text("Inserted below (not run)")
    expect(cells.nth(3)).to_contain_text("print('the last cell')")

    assert page.evaluate("() => window.__pwned") is None and not xss_fired(page)
    screenshot(page, "code-bar")


_code_cell = __import__("re").compile(r"\bjp-CodeCell\b")

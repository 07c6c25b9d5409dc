"""Smoke test of the browser harness: widgets round-trip, and grok_magic's HTML output renders."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import open_notebook, run_all, screenshot, write_notebook, xss_fired

pytestmark = pytest.mark.browser

CELLS = [
    {"cell_type": "markdown", "source": "# Smoke\nA *markdown cell* (not an output)."},
    """\
import ipywidgets as widgets
from IPython.display import display

label = widgets.Label(value="not clicked")
label.add_class("grok-smoke-label")
button = widgets.Button(description="Click me")
button.add_class("grok-smoke")

def on_click(_):
    label.value = "clicked!"

button.on_click(on_click)
display(button, label)
""",
    # answers are shown as text/html from grok_magic's one renderer (no longer text/markdown)
    "from grok_magic.safety.markdown import render_html\n"
    'display({"text/html": render_html("**hi**"), "text/plain": "hi"}, raw=True)',
    'print("smoke done")',
]


def test_widget_click_and_html_output(jupyterlab, page):
    write_notebook(jupyterlab.root, "smoke.ipynb", CELLS)
    open_notebook(page, jupyterlab, "smoke.ipynb")
    run_all(page)

    button = page.locator("button.grok-smoke")
    label = page.locator(".grok-smoke-label")
    expect(button).to_have_text("Click me")
    expect(label).to_contain_text("not clicked")
    button.click()
    expect(label).to_contain_text("clicked!")

    strong = page.locator(".jp-OutputArea .jp-RenderedHTMLCommon .grok-md strong")
    expect(strong).to_have_count(1)
    expect(strong).to_have_text("hi")
    expect(page.locator(".jp-OutputArea-output", has_text="smoke done")).to_have_count(1)

    assert page.evaluate("() => window.__grok_xss") is None
    assert not xss_fired(page)
    screenshot(page, "after-click")

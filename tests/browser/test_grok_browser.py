"""%%grok in a real JupyterLab: answers rendered (safe HTML, not text/markdown), the usage widget,
and inert hostile answers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.xai_standin import FAKE_KEY, Reply

from .conftest import (
    assert_nothing_ran,
    open_notebook,
    record_dialogs,
    run_all,
    screenshot,
    watch_outputs,
    write_notebook,
)

pytestmark = pytest.mark.browser

HOSTILE = (
    "**Bold answer** with <img src=x onerror=\"window.__grok_xss=1\"> and "
    "<script>window.__grok_xss=2</script>\n\n"
    "![tracker](http://127.0.0.1:9/leak.png?d=secret) "
    "[click me](javascript:window.__grok_xss=3)\n\n"
    "<iframe src=\"javascript:parent.__grok_xss=4\"></iframe>\n"
)
# Ways around a sanitiser that trusts its own idea of "code" more than the renderer's.
PAYLOAD = '<img src=x onerror="window.__grok_xss=5">'
BYPASSES = (
    f"- `a\n- {PAYLOAD}`\n\n"
    f"\\`{PAYLOAD}`\n\n"
    f"| a | b |\n|---|---|\n| `x | {PAYLOAD} | y` |\n\n"
    f"1. item\n   ```\n   code\n{PAYLOAD}\n\n"
    f"Math: $a<b$ and $x{PAYLOAD}$\n"
)


def test_grok_cell_renders_markdown_usage_and_nothing_hostile(jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    srv.enqueue(Reply(content="# Olá\n\nA **bold** answer with `code`.\n\n- one\n- two\n",
                      delay=0.02),
                Reply(content=HOSTILE), Reply(content=BYPASSES))
    write_notebook(jupyterlab.root, "grok.ipynb", [
        "%load_ext grok_magic",
        "%%grok\nSay hi in Portuguese",
        "%%grok\nNow something dangerous",
        "%%grok\nAnd something sneaky",
    ])
    dialogs = record_dialogs(page)
    watch_outputs(page)
    open_notebook(page, jupyterlab, "grok.ipynb")
    run_all(page)

    # Answers are text/html (our renderer's output, in its mathjax_ignore wrapper), not Markdown.
    html = ".jp-OutputArea .jp-RenderedHTMLCommon .grok-md"
    cells = page.locator(".jp-CodeCell")
    first = cells.nth(1)
    expect(first.locator(f"{html} strong", has_text="bold")).to_have_count(1)
    expect(first.locator(f"{html} h1", has_text="Olá")).to_have_count(1)
    expect(first.locator(f"{html} li")).to_have_count(2)
    expect(first.locator(f"{html} code", has_text="code")).to_have_count(1)
    assert page.locator(".jp-OutputArea .jp-RenderedMarkdown").count() == 0
    usage = first.locator(".grok-usage")
    expect(usage.first).to_be_visible()
    expect(usage.first).to_contain_text("completion")
    expect(usage.first).to_contain_text("grok-4.3")
    expect(usage.first).to_contain_text("$")

    second = cells.nth(2)
    expect(second.locator(f"{html} strong", has_text="Bold answer")).to_have_count(1)
    # the invented image is a plain link to where it would have come from, never loaded
    expect(second.locator(f"{html} a", has_text="tracker")).to_have_count(1)
    # the raw HTML is shown as text
    expect(second.locator(html).first).to_contain_text("<script>window.__grok_xss=2</script>")
    assert second.locator(".jp-OutputArea img").count() == 0
    assert second.locator(".jp-OutputArea iframe, .jp-OutputArea script").count() == 0
    links = second.locator(".jp-OutputArea a").evaluate_all("els => els.map(e => e.href)")
    assert not any(h.lower().startswith("javascript:") for h in links), links
    third = cells.nth(3)
    expect(third.locator(".grok-usage").first).to_be_visible()
    expect(third.locator(html).first).to_be_visible()
    assert third.locator(".jp-OutputArea img").count() == 0
    page.wait_for_timeout(500)
    assert_nothing_ran(page)
    assert dialogs == []
    assert FAKE_KEY not in page.content()
    screenshot(page, "grok-cells")

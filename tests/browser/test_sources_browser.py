"""What Grok's server-side tools leave under an answer stays inert in a real JupyterLab.

A ``%%grok --search web`` cell gets hostile citations from the stand-in's ``/v1/responses``
(``standin_responses.ToolRun``): titles with HTML, Markdown, TeX and the fake key in them, a very
long title, URLs that try to break out of the link or its attribute, ``javascript:`` / ``data:``
/ ``vbscript:`` / ``file:`` / relative URLs, and a link to the loopback canary. A
``%%grok --run-code`` cell gets code and output that try to end the ``<pre>`` and the
``<details>`` around them (script, img, iframe, style, the canary as an image). Then, with the
detectors of ``test_inert_browser`` (``assert_inert``: no payload flag, the inert DOM rules now and
at every moment a MutationObserver saw, no dialog, no request to the canary or anywhere but the
JupyterLab server, the fake key not on the page):

- nothing ran and nothing was fetched;
- positive control: the Sources list is a numbered ``<ol>`` of real ``<a href="http(s)://…">``
  links, only for the absolute http(s) URLs, in the order cited, with the hostile titles shown
  as text (the long one cut with "…", the key masked); the folded "Code Grok ran" block opens on
  a click and shows the code and its output as text, nothing but text in its ``<pre>``.

grok_magic sends every link with ``rel="noopener noreferrer nofollow"`` (checked in the output's
HTML in the notebook model), but JupyterLab's renderer replaces the rel of every non-local link
with ``noopener`` (and sets ``target=_blank``), so in the page only ``noopener`` is left.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.standin_responses import ToolRun, enqueue_responses
from tests.support.xai_standin import FAKE_KEY

from . import test_inert_browser
from .conftest import open_notebook, run_all, screenshot, write_notebook
from .test_inert_browser import Browsing, assert_inert

pytestmark = pytest.mark.browser

canary = test_inert_browser.canary  # the loopback server that must get no request
CELL_TIMEOUT_MS = 180_000
REL = "noopener noreferrer nofollow"
PWNED_IMG = "<img src=x onerror=\"window.__pwned='title-img'\">"
SCRIPT = "<script>window.__grok_xss='title-script'</script><img src=y onerror=\"alert('title')\">"
LONG_TITLE = "Very long title <b>bold?</b> " + "and on " * 60
MARKDOWN_TITLE = "[inner](javascript:window.__pwned='md') ![pic]({canary}/title.png) <!-- c -->"
TEX_TITLE = "`code` **strong** $x^2$ \\href{javascript:alert(1)}{tex} \\(y\\) &amp; &lt;i&gt;"


def citations(canary_url: str) -> tuple[list, list[tuple[str, str]]]:
    """(what the stand-in cites, [(href, link text)] the Sources list must show, in order)."""
    markdown_title = MARKDOWN_TITLE.format(canary=canary_url)
    cited = [
        {"url": "javascript:window.__pwned='js'", "title": "dropped: a javascript: link"},
        {"url": "https://docs.example/guide", "title": f"{PWNED_IMG} Guide"},
        "JaVaScRiPt:window.__pwned='JS'",  # a bare URL (no title), as chat completions cite
        {"url": " java\tscript:window.__pwned='tab'", "title": "dropped: tab in the scheme"},
        {"url": "data:text/html,<script>window.__pwned='data'</script>", "title": "dropped: data: URL"},
        {"url": "data:image/svg+xml,<svg onload=\"window.__pwned='svg'\"/>", "title": "dropped: svg"},
        {"url": "vbscript:msgbox(1)", "title": "dropped: vbscript"},
        {"url": "file:///etc/passwd", "title": "dropped: a file"},
        {"url": "//relative.example/x", "title": "dropped: scheme-relative"},
        {"url": "/relative/path", "title": "dropped: relative path"},
        {"url": "relative.html", "title": "dropped: relative file"},
        {"url": "https://", "title": "dropped: no host"},
        {"url": "https://news.example/story?id=1&q=<script>", "title": SCRIPT},
        {"url": f"{canary_url}/cited-page",
         "title": f"the canary, as a link only <img src=\"{canary_url}/title-img.png\">"},
        {"url": "https://long.example/t", "title": LONG_TITLE},
        {"url": "https://quote.example/a\" onmouseover=\"window.__pwned='attr'\" x=\"",
         "title": "attribute breakout"},
        {"url": "https://md.example/x)](javascript:window.__pwned='md-url')",
         "title": markdown_title},
        {"url": "https://tex.example/t", "title": TEX_TITLE},
        {"url": "https://key.example/k", "title": f"a key {FAKE_KEY} in a title"},
        {"url": "HTTPS://Upper.Example/Path", "title": None},  # no title: the host only
        {"url": "https://docs.example/guide", "title": "dropped: the same URL again"},  # shown once
    ]
    long_title = " ".join(LONG_TITLE.split())[:119] + "…"
    shown = [
        ("https://docs.example/guide", f"docs.example — {PWNED_IMG} Guide"),
        ("https://news.example/story?id=1&q=%3Cscript%3E", f"news.example — {SCRIPT}"),
        (f"{canary_url}/cited-page",
         f"127.0.0.1 — the canary, as a link only <img src=\"{canary_url}/title-img.png\">"),
        ("https://long.example/t", f"long.example — {long_title}"),
        ("https://quote.example/a%22%20onmouseover=%22window.__pwned='attr'%22%20x=%22",
         "quote.example — attribute breakout"),
        ("https://md.example/x%29%5D%28javascript:window.__pwned='md-url'%29",
         f"md.example — {markdown_title}"),
        ("https://tex.example/t", f"tex.example — {TEX_TITLE}"),
        ("https://key.example/k", None),  # the title's key is masked: checked apart
        ("HTTPS://Upper.Example/Path", "upper.example/Path"),  # no title: host and path
    ]
    return cited, shown


CODE = (
    "html = '</pre></details><script>window.__grok_xss=\"code-script\"</script>'\n"
    "print('<img src=x onerror=\"window.__pwned=1\">')\n"
    "# <iframe src=\"javascript:parent.__pwned='code-iframe'\"></iframe>\n"
    "# <img src=\"{canary}/code.png\"> ]]> --> <![CDATA[ x\n"
    f"key = '{FAKE_KEY}'"
)
OUTPUT = (
    "</pre><img src=\"{canary}/output.png\" onerror=\"window.__pwned='out'\">\n"
    "<script>window.__grok_xss='out-script'</script><img src=y onerror=\"alert('out')\">\n"
    "</details><style>body {{ display: none }}</style><svg onload=\"window.__pwned=2\">\n"
)


def sent_html(page, marker: str) -> list[str]:
    """The text/html of every output (in the notebook's model: what the kernel sent, before
    JupyterLab rendered it) that contains ``marker``."""
    notebook = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.toJSON()")
    found = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", ()):
            html = output.get("data", {}).get("text/html", "")
            html = html if isinstance(html, str) else "".join(html)  # nbformat: str or lines
            if marker in html:
                found.append(html)
    return found


def test_sources_and_code_grok_ran_stay_inert(jupyterlab, page, xai_server, canary):
    cited, shown = citations(canary.url)
    code, output = CODE.format(canary=canary.url), OUTPUT.format(canary=canary.url)
    enqueue_responses(
        xai_server,
        ToolRun(text="See the **sources** below.", searches=[("web", "<b>q</b>")],
                citations=cited, chunk_chars=3),
        ToolRun(text="I ran some code.", code=code, code_output=output, chunk_chars=3),
    )
    name = "sources_inert.ipynb"
    write_notebook(jupyterlab.root, name, [
        "%load_ext grok_magic",
        "%%grok --search web\nFind me some sources",
        "%%grok --run-code\nRun something",
        "print(len(_grok.tool_calls), 'tool calls')",
    ])
    browsing = Browsing(page, jupyterlab)
    open_notebook(page, jupyterlab, name)
    run_all(page, timeout=CELL_TIMEOUT_MS)

    cells = page.locator(".jp-CodeCell")
    search_cell, code_cell = cells.nth(1), cells.nth(2)
    expect(cells.nth(3).locator(".jp-OutputArea-output").last).to_contain_text("1 tool calls")
    bodies = [r.json for r in xai_server.requests if r.path.split("?")[0] == "/v1/responses"]
    assert [b["tools"] for b in bodies] == [[{"type": "web_search"}],
                                            [{"type": "code_interpreter"}]]
    screenshot(page, "sources-and-code")

    # -- nothing ran, nothing was fetched, no dialog, the key is not on the page
    assert_inert(page, browsing, canary)  # (waits a second for late loads and timers first)

    # -- the positive control: the answers are there, visible
    expect(search_cell.locator(".grok-md", has_text="See the sources below.")).to_be_visible()
    expect(code_cell.locator(".grok-md", has_text="I ran some code.")).to_be_visible()

    # -- the Sources list: numbered real links, only the safe ones, titles as text
    sources = search_cell.locator(".grok-sources")
    expect(sources).to_have_count(1)
    expect(sources.locator("strong", has_text=re.compile(r"^Sources$"))).to_have_count(1)
    items = sources.locator("ol > li")
    expect(items).to_have_count(len(shown))
    assert sources.locator("ol").evaluate("ol => ol.start") == 1
    links = sources.locator("a")
    expect(links).to_have_count(len(shown))
    got = links.evaluate_all(
        "as => as.map(a => ({href: a.getAttribute('href'), text: a.textContent,"
        " rel: a.getAttribute('rel'), kids: a.children.length, li: a.parentElement.localName,"
        " proto: a.protocol, target: a.target}))")
    for (href, text), link in zip(shown, got, strict=True):
        assert link["href"] == href, (link, href)
        assert link["proto"] in ("http:", "https:"), link
        # JupyterLab sets rel="noopener" (and target=_blank) on every non-local link it
        # renders, replacing the rel we sent (checked in the output's HTML below)
        assert "noopener" in (link["rel"] or "").split(), link
        assert link["target"] == "_blank", link
        assert link["kids"] == 0, link  # the title is text: no element in the link
        assert link["li"] == "li", link
        if text is not None:  # (a word joiner after a backslash keeps TeX from being TeX)
            assert link["text"].replace("\u2060", "") == text, (link["text"], text)
    sent = sent_html(page, "grok-sources")
    assert len(sent) == 1, sent
    assert sent[0].count(f'rel="{REL}"') == len(shown), sent[0]
    key_title = got[[h for h, _ in shown].index("https://key.example/k")]["text"]
    assert key_title.startswith("key.example — a key ") and FAKE_KEY not in key_title
    assert sources.locator("img, script, svg, iframe, b, code, em").count() == 0
    listed = sources.inner_text()
    assert "dropped:" not in listed and "JaVaScRiPt" not in listed, listed
    hrefs = " ".join(link["href"] for link in got)
    assert "javascript:" not in hrefs.lower().replace("%28javascript:", "") and "data:" not in hrefs

    # -- the code Grok ran: folded and highlighted (our spans only), its output shown under it
    folded = code_cell.locator("details.grok-code-ran")
    expect(folded).to_have_count(1)
    pre = folded.locator("pre")
    expect(pre).to_be_hidden()
    printed = code_cell.locator(".grok-code-output pre")
    expect(printed).to_be_visible()  # what the code printed needs no click
    printed_text = printed.evaluate("pre => pre.textContent")
    for line in output.rstrip("\n").split("\n"):
        assert line in printed_text, (line, printed_text)
    assert printed.locator("*").evaluate_all("es => es.map(e => e.localName)") == ["code"]
    folded.locator("summary").click()
    expect(pre).to_be_visible()
    text = pre.evaluate("pre => pre.textContent")
    masked_code = code.replace(FAKE_KEY, "")
    assert masked_code.split("key = '")[0] in text, text
    assert FAKE_KEY not in text and FAKE_KEY not in printed_text
    # inside the <pre>: the <code> and the highlighter's colour spans, nothing else
    kinds = set(pre.locator("*").evaluate_all("es => es.map(e => e.localName)"))
    assert kinds <= {"code", "span"}, kinds
    assert pre.locator("span").evaluate_all(
        "ss => ss.every(s => s.children.length === 0 && /^(\\s*(color|font-weight|font-style)"
        "\\s*:\\s*[#\\w]+\\s*;?)+$/i.test(s.getAttribute('style') || ''))"), pre.inner_html()
    expect(folded.locator("summary")).to_contain_text("Code Grok ran")
    expect(code_cell.locator("details.grok-code-ran")).to_have_count(1)  # no </details> escape
    screenshot(page, "code-opened")

    # -- and still nothing ran once the code was shown
    assert_inert(page, browsing, canary)

"""The hostile corpus streamed into a real JupyterLab stays inert (issue 9).

Every case of ``tests/inert_corpus.py`` (``cases(canary)``: the reproducers, the classics and the
image cases, plus 60 seeded fuzz documents from ``generate``; remote URLs point at a loopback
canary server) is streamed by the stand-in in
2–3 character pieces through ``%%grok`` (one answer per case, and each group as one long
answer), shown again by ``%grok history``, and through the chat panel (``_grok_panel.send``;
a second ``%grok chat`` then renders the whole shared conversation as panel history). Then:

- nothing ran: ``window.__pwned`` / ``window.__grok_xss`` stay unset, no dialog opened;
- the DOM of every output obeys the inert rules (``conftest.output_violations``), at the end
  and at every moment while the answers streamed (a MutationObserver, ``watch_outputs``);
- nothing was fetched: the canary logged no request, and the browser asked for nothing but the
  JupyterLab server and the one image the user sent (``page.on("request")``);
- the fake key never reaches the page;
- a benign answer still renders headings, a list, a table, highlighted code, math typeset by
  MathJax, a ``rel=noopener`` link and the image the user sent — so "inert" cannot mean "empty".

The image the user sends is a public URL (answered by ``page.route``): a loopback URL in a cell
is inlined as a data URL for xAI, and so an answer may not show it (only images sent *as URLs*
are allowed). ``test_the_checks_see_a_real_leak`` shows that every detector fires on raw HTML.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from grok_magic.notebook.panel_views import PANEL_CSS
from tests.support.inert_corpus import cases, generate
from tests.support.xai_standin import FAKE_KEY, Reply

from .conftest import (
    assert_nothing_ran,
    open_notebook,
    output_violations,
    record_dialogs,
    run_all,
    screenshot,
    stylesheets,
    watch_outputs,
    watched_violations,
    write_notebook,
)

pytestmark = pytest.mark.browser

# The one image the user sends: a public URL (sent to xAI as a URL, so the answer may show it),
# answered in the browser by page.route, so it really loads.
USER_IMAGE = "https://img.example/cat.png"
BENIGN = f"""# Benign answer

## What it shows

- a first item
- a second item

| column | value |
|---|---|
| alpha | 1 |
| beta | 2 |

```python
def square(x):
    return x ** 2  # highlighted
```

Inline math $x^2 + \\alpha$ and a display:

$$\\frac{{a}}{{b}} = \\sqrt{{2}}$$

A [safe link](https://ok.example/docs) and your picture: ![your picture]({USER_IMAGE})
"""
GROUPS = ("repro", "classic", "image", "terminal", "fuzz")
FUZZ_SEED, FUZZ_DOCUMENTS = 9, 60
# The chat panel's own stylesheet (a <style> in a widget, outside any answer) is allowed as is.
OWN_STYLES = stylesheets(PANEL_CSS)
CELL_TIMEOUT_MS = 240_000


def png(color=(40, 160, 90), size=(24, 16)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


class Canary:
    """A loopback HTTP server that logs every request it gets (and answers each with a PNG, so
    a leak would even show)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        image = png((220, 30, 30))
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                hits.append(f"{self.command} {self.path} (from {self.client_address[0]}, "
                            f"{self.headers.get('User-Agent', '?')[:40]})")
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(image)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(image)

            do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = _answer

            def log_message(self, format, *args) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="canary",
                                       daemon=True)

    def __enter__(self) -> Canary:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def canary():
    with Canary() as server:
        yield server


def corpus(canary_url: str) -> dict[str, list[tuple[str, str]]]:
    """{group: [(id, text)]}: the whole fixed corpus and some seeded fuzz documents, remote URLs
    on the canary."""
    out: dict[str, list[tuple[str, str]]] = {g: [] for g in GROUPS}
    for case in [*cases(canary_url), *generate(FUZZ_SEED, FUZZ_DOCUMENTS, canary_url)]:
        out[case.id.split("-")[0]].append((case.id, case.text))
    assert all(out.values()), {g: len(v) for g, v in out.items()}
    return out


def joined(items: list[tuple[str, str]]) -> str:
    return "\n\n".join(text for _, text in items)


class Browsing:
    """What the page did: every request URL, dialogs, and a route for the user's image."""

    def __init__(self, page, lab) -> None:
        self.page, self.lab = page, lab
        self.requests: list[str] = []
        self.dialogs = record_dialogs(page)
        page.on("request", lambda r: self.requests.append(r.url))
        image = png()
        page.route(USER_IMAGE, lambda route: route.fulfill(
            status=200, content_type="image/png", body=image))
        watch_outputs(page, [USER_IMAGE], OWN_STYLES)

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but the JupyterLab server and the image the user sent."""
        lab = urlsplit(self.lab.base_url).netloc
        return [u for u in self.requests if not (
            urlsplit(u).netloc == lab or u == USER_IMAGE or u.startswith(("data:", "blob:")))]


def assert_inert(page, browsing: Browsing, canary: Canary) -> None:
    page.wait_for_timeout(1000)  # let late image loads, MathJax and payload timers happen
    assert_nothing_ran(page, [USER_IMAGE], OWN_STYLES)
    assert browsing.dialogs == []
    canary_host = urlsplit(canary.url).netloc
    assert [u for u in browsing.requests if canary_host in u or "evil.example" in u] == []
    assert browsing.foreign_requests() == []
    assert canary.hits == []
    assert FAKE_KEY not in page.content()


def assert_benign_rendered(answer) -> None:
    """The positive control, in one answer's locator (a cell, or a panel answer)."""
    md = answer.locator(".grok-md")
    expect(md.locator("h1", has_text="Benign answer")).to_have_count(1)
    expect(md.locator("h2", has_text="What it shows")).to_have_count(1)
    expect(md.locator("li")).to_have_count(2)
    expect(md.locator("table td")).to_have_count(4)
    expect(md.locator("table th", has_text="column")).to_have_count(1)
    code = md.locator("pre code.language-python")
    expect(code).to_contain_text("def square(x):")
    colours = code.locator("span[style*='color']").evaluate_all(
        "els => els.map(e => getComputedStyle(e).color)")
    assert len(colours) >= 3 and len(set(colours)) >= 2, colours  # really highlighted
    expect(md.locator(".grok-math mjx-container")).to_have_count(2)  # typeset by MathJax
    link = md.locator("a", has_text="safe link")
    expect(link).to_have_attribute("href", "https://ok.example/docs")
    assert "noopener" in (link.get_attribute("rel") or "").split()
    image = md.locator(f"img[src='{USER_IMAGE}']")
    expect(image).to_have_count(1)
    expect(image).to_have_attribute("alt", "your picture")
    answer.page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 24", arg=image.element_handle())


def wait_cells_run(page, timeout_ms: float = CELL_TIMEOUT_MS) -> None:
    run_all(page, timeout=timeout_ms)


def run_watched(page, lab, name: str, cells: list[str]) -> tuple[Browsing, float]:
    """Write a notebook, open it with every request watched, run it; (watcher, seconds)."""
    write_notebook(lab.root, name, cells)
    browsing = Browsing(page, lab)
    started = time.monotonic()
    open_notebook(page, lab, name)
    wait_cells_run(page)
    return browsing, time.monotonic() - started


def test_magic_and_history_stream_the_corpus_inert(jupyterlab, page, xai_server, canary):
    groups = corpus(canary.url)
    (jupyterlab.root / "inert_corpus.json").write_text(json.dumps(groups))
    replies = [Reply(content=BENIGN, chunk_chars=3)]
    for g in GROUPS:  # one answer per case, in 2-character pieces
        replies += [Reply(content=text, chunk_chars=2) for _, text in groups[g]]
    for g in GROUPS:  # then each group as one long answer, in 3-character pieces
        replies.append(Reply(content=joined(groups[g]), chunk_chars=3, delay=0.002))
    xai_server.enqueue(*replies)

    loop = (
        "for case_id, text in CORPUS[{g!r}]:\n"
        "    get_ipython().run_cell_magic('grok', '-q', f'Answer {{case_id}}')\n"
        "    assert _grok.text == text or 'xai-' in text, case_id  # (a key-like word is masked)\n"
        "print({g!r}, len(CORPUS[{g!r}]), 'answers')"
    )
    cells = [
        "%load_ext grok_magic\n%config GrokMagics.max_history = 1000\n"
        "import json\nCORPUS = json.load(open('inert_corpus.json'))",
        f"%%grok\nShow me what you can render. My picture: {USER_IMAGE}",
        *[loop.format(g=g) for g in GROUPS],
        *[f"%%grok -q\nAll the {g} cases at once" for g in GROUPS],
        "%grok history",
    ]
    browsing, seconds = run_watched(page, jupyterlab, "inert_magic.ipynb", cells)
    total = sum(len(v) for v in groups.values())
    print(f"\n{total} cases streamed through %%grok and %grok history: {seconds:.0f} s")

    code_cells = page.locator(".jp-CodeCell")
    assert_benign_rendered(code_cells.nth(1))
    n = len(GROUPS)
    for i, g in enumerate(GROUPS):
        loop_cell = code_cells.nth(2 + i)
        expect(loop_cell.locator(".jp-OutputArea-output").last).to_contain_text(
            f"{g} {len(groups[g])} answers")
        # every answer was rendered (a frozen block or the whole answer per output)
        assert loop_cell.locator(".grok-md").count() >= len(groups[g])
        expect(code_cells.nth(2 + n + i).locator(".grok-md").first).to_be_visible()
    history = code_cells.nth(2 + 2 * n).locator(".grok-md .grok-history-turn")
    expect(history).to_have_count(2 * (1 + total + n))
    expect(history.nth(1).locator("h1", has_text="Benign answer")).to_have_count(1)
    assert len(xai_server.answer_requests) == 1 + total + n
    assert xai_server.pending == 0
    assert_inert(page, browsing, canary)
    screenshot(page, "magic-and-history")


def test_chat_panel_streams_the_corpus_inert(jupyterlab, page, xai_server, canary):
    groups = corpus(canary.url)
    batches = [items[i:i + 8] for g in GROUPS for items in [groups[g]]
               for i in range(0, len(items), 8)]
    (jupyterlab.root / "inert_batches.json").write_text(json.dumps(batches))
    xai_server.enqueue(Reply(content=BENIGN, chunk_chars=2),
                       *[Reply(content=joined(b), chunk_chars=2) for b in batches])

    cells = [
        "%load_ext grok_magic\n%config GrokMagics.max_history = 1000\n"
        "import json\nBATCHES = json.load(open('inert_batches.json'))",
        "%grok chat",
        f"r = _grok_panel.send('Show me what you can render', images=[{USER_IMAGE!r}])\n"
        "assert r.text.startswith('# Benign answer')",
        "for batch in BATCHES:\n"
        "    r = _grok_panel.send('Answer ' + ', '.join(case_id for case_id, _ in batch))\n"
        "    expected = '\\n\\n'.join(text for _, text in batch)\n"
        "    assert r.text == expected or 'xai-' in expected, batch[0][0]\n"
        "print(len(BATCHES), 'panel answers')",
        # a second panel on the same conversation renders all of it as panel history
        "%grok chat",
    ]
    browsing, seconds = run_watched(page, jupyterlab, "inert_panel.ipynb", cells)
    print(f"\n{len(batches)} corpus batches streamed through the chat panel: {seconds:.0f} s")

    panels = page.locator(".grok-panel")
    expect(panels).to_have_count(2)
    expect(page.locator(".jp-CodeCell").nth(3).locator(".jp-OutputArea-output").last
           ).to_contain_text(f"{len(batches)} panel answers")
    for p in range(2):
        answers = panels.nth(p).locator(".grok-answer")
        expect(answers).to_have_count(1 + len(batches))
        assert_benign_rendered(answers.first)
        # every answer shows rendered HTML
        assert answers.locator(".grok-md").count() >= 1 + len(batches)
    assert len(xai_server.answer_requests) == 1 + len(batches)
    assert_inert(page, browsing, canary)
    screenshot(page, "panel")


def test_the_checks_see_a_real_leak(jupyterlab, page, canary):
    """The detectors work: raw HTML shown *without* grok_magic's renderer (a trusted text/html
    output, which JupyterLab inserts as is and whose scripts it runs) trips every one of them."""
    leak = (
        f'<div class="grok-md"><img src="{canary.url}/leak.png">'
        '<img src="x" onerror="window.__pwned=1"><object data="java&#9;script:void 0"></object>'
        "<script>window.__grok_xss=1</script>"
        '<img src="y" onerror="alert(1)"></div>'
    )
    write_notebook(jupyterlab.root, "leak.ipynb", [
        f"from IPython.display import HTML, display\ndisplay(HTML({leak!r}))",
    ])
    browsing = Browsing(page, jupyterlab)
    open_notebook(page, jupyterlab, "leak.ipynb")
    run_all(page)
    page.wait_for_function("() => window.__pwned === 1 && window.__grok_xss === 1")
    page.wait_for_timeout(500)
    assert browsing.dialogs == ["alert: 1"]
    found = " | ".join(output_violations(page, [USER_IMAGE], OWN_STYLES))
    for rule in ("<script> element", "onerror attribute", "<object> element",
                 'data="java\\tscript:void 0"',
                 f'img src "{canary.url}/leak.png" not sent'):
        assert rule in found, (rule, found.split(" | "))
    assert len(watched_violations(page)) >= 4
    assert any(u.startswith(canary.url) for u in browsing.foreign_requests())
    assert [h.split(" (")[0] for h in canary.hits] == ["GET /leak.png"]

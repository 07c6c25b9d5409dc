"""`%%grok --imagine` typed and run in a real JupyterLab: the pictures show from the bytes the
kernel fetched (image output data, decoded by the browser), the revised prompts as text under
them, and the page itself never asks anything of anyone but the Jupyter server — in particular
not of the image host xAI links to. Saved, the notebook holds no address of that host."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.standin_imagine import imagine_state
from tests.support.xai_standin import FAKE_KEY

from .conftest import open_notebook, run_all, screenshot, write_notebook

pytestmark = pytest.mark.browser

NAME = "imagine.ipynb"
OUTPUTS = ".jp-OutputArea-output"


def type_and_run(page, *lines: str) -> None:
    """Type `lines` into the cell being edited (Enter between them) and run it with
    Shift+Enter, which on the last cell opens a new one below, in edit mode."""
    for number, line in enumerate(lines):
        if number:
            page.keyboard.press("Enter")
        page.keyboard.type(line)
    page.keyboard.press("Shift+Enter")


def decoded(image) -> tuple[str, int, int]:
    """An <img>'s src scheme and the size the browser decoded it to (0 × 0: it did not)."""
    scheme, width, height = image.evaluate(
        "(img) => [img.getAttribute('src').split(':')[0], img.naturalWidth, img.naturalHeight]")
    return scheme, width, height


def saved_notebook(lab, name: str) -> tuple[str, int]:
    """The notebook file as the server saved it, and how many image outputs it holds."""
    text = (lab.root / name).read_text(encoding="utf-8")
    try:
        cells = json.loads(text)["cells"]
    except ValueError:  # caught mid-write
        return text, 0
    images = sum("image/jpeg" in output.get("data", {})
                 for cell in cells for output in cell.get("outputs", []))
    return text, images


def test_typed_imagine_cells_show_fetched_bytes_and_the_page_loads_nothing_else(
        jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    run_id = uuid.uuid4().hex[:8]  # a new prompt: the browser tests share one ledger
    pair = f"Two paper cranes on a desk {run_id}"
    single = f"A paper boat on a pond {run_id}"
    write_notebook(jupyterlab.root, NAME, ["%load_ext grok_magic"])

    lab_origin = urlsplit(jupyterlab.base_url)
    asked: list[str] = []  # every address the page asked for
    elsewhere: list[str] = []  # those not at the Jupyter server

    def note(url: str) -> None:
        asked.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):  # in-page data (an output's own bytes): no network
            return
        if (parts.hostname, parts.port) != (lab_origin.hostname, lab_origin.port):
            elsewhere.append(url)

    page.on("request", lambda req: note(req.url))
    page.on("websocket", lambda ws: note(ws.url))
    open_notebook(page, jupyterlab, NAME)
    run_all(page)
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    cells.nth(0).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")  # runs it again and opens a new cell below
    expect(cells).to_have_count(2)
    type_and_run(page, "%%grok --imagine --count 2", pair)
    expect(cells).to_have_count(3)
    type_and_run(page, f"%grok imagine {single}")

    # Two images: the first cell's contact sheet (both pictures side by side), the second's own.
    sheet_out, single_out = cells.nth(1).locator(OUTPUTS), cells.nth(2).locator(OUTPUTS)
    expect(sheet_out.locator(".grok-usage").first).to_contain_text("2 images", timeout=60_000)
    expect(single_out.locator(".grok-usage").first).to_contain_text("1 image", timeout=60_000)
    sheet, image = sheet_out.locator("img"), single_out.locator("img")
    expect(sheet).to_have_count(1)
    expect(image).to_have_count(1)
    page.wait_for_function("(imgs) => imgs.every(img => img.complete)",
                           arg=[sheet.element_handle(), image.element_handle()])
    scheme, width, height = decoded(sheet)
    assert scheme == "data" and width > 1.8 * height > 0  # two square pictures in a row
    assert decoded(image) == ("data", 1024, 1024)  # the stand-in's 1k square, whole

    # The revised prompts, numbered for the pair, as text (not markup) under the pictures.
    revised = sheet_out.locator(".grok-revised")
    expect(revised).to_have_count(2)
    expect(revised.nth(0)).to_have_text(f"1. {pair} — rendered as a detailed illustration")
    expect(revised.nth(1)).to_have_text(
        f"2. {pair} — rendered as a detailed illustration, variation 2")
    expect(single_out.locator(".grok-revised")).to_have_text(
        f"{single} — rendered as a detailed illustration")
    screenshot(page, "imagined")

    # The kernel fetched the three files (without the key); the page asked only the lab.
    posts = [r for r in srv.requests if r.path == "/v1/images/generations"]
    assert [(p.json["prompt"], p.json["n"]) for p in posts] == [(pair, 2), (single, 1)]
    gets = [r for r in srv.requests if r.path.startswith("/files/imagine/")]
    assert len(gets) == 3 == len(imagine_state(srv).generated)
    assert all("Authorization" not in g.headers for g in gets)
    assert any(url.startswith(f"{jupyterlab.base_url}/api/") for url in asked)  # recorded
    assert elsewhere == []
    assert FAKE_KEY not in page.content()

    # Saved, the notebook holds the pictures' bytes and no address of the image host.
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while (saved := saved_notebook(jupyterlab, NAME))[1] < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    saved, images = saved
    assert images == 2, "the saved notebook lacks the pictures"
    host = urlsplit(srv.base_url).netloc
    assert host not in saved and "/files/imagine" not in saved
    assert FAKE_KEY not in saved
    assert elsewhere == []

"""A `--each --batch-api` job in a real JupyterLab: the cell returns at once with the `--each`
progress bar, which counts the job's rows until it ends; then the page (and the notebook as
saved) shows the final state, not "pending"."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.support.standin_batches import batch_state

from .conftest import assert_nothing_ran, open_notebook, run_all, screenshot, watch_outputs

pytestmark = pytest.mark.browser

ROWS = 6
LATENCY = 1.5  # seconds per answer at the stand-in: the job runs about 9 s


def saved_outputs(lab, name: str, cell: int) -> list[dict]:
    return lab.api("GET", f"/api/contents/{name}?content=1")["content"]["cells"][cell]["outputs"]


def test_a_batch_jobs_bar_counts_to_done_and_its_final_state_stays(jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    batch_state(srv).latency = LATENCY
    run_id = uuid.uuid4().hex[:8]  # new requests (the ledger is shared by the browser tests)
    name = "batch.ipynb"
    jupyterlab.write_notebook(name, [
        "%load_ext grok_magic\n"
        "from grok_magic.runs.batch_job import PollSchedule\n"
        "get_ipython().magics_manager.registry['GrokMagics'].batch_schedule = "
        "PollSchedule(first=0.3, factor=1.0, floor=0.3, cap=0.3)\n"
        f"docs = [f'doc {{i}} {run_id}' for i in range({ROWS})]",
        "%%grok --each docs --batch-api -o labels\nLabel {item}",
    ])
    watch_outputs(page)
    open_notebook(page, jupyterlab, name)
    run_all(page)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(1)
    output = cell.locator(".jp-OutputArea-output")

    # While the job runs: the live bar (ipywidgets' progress, from tqdm) and the job's state.
    live = output.locator(".grok-progress .widget-hprogress")
    expect(live).to_be_visible()
    expect(output.locator(".grok-progress")).to_contain_text(f"/{ROWS} [")
    expect(output).to_contain_text(re.compile(r"Batch batch_\w+: (pending|submitted)"))
    screenshot(page, "running")

    # The end: the same output now holds the final bar, full, with the right count, as HTML.
    final = output.locator(".grok-progress-static")
    expect(final).to_be_visible(timeout=60_000)
    bar = final.locator("progress.grok-progress-bar")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == (str(ROWS), str(ROWS))
    expect(final).to_contain_text(f"{ROWS}/{ROWS}")
    expect(final).to_contain_text(f": done · {ROWS} of {ROWS} rows done")
    expect(final).to_contain_text("Finished: the results table is in labels and _grok_each.")
    expect(output).not_to_contain_text("pending")
    expect(output.locator(".widget-hprogress")).to_have_count(0)  # the widget was closed
    screenshot(page, "done")
    assert_nothing_ran(page)

    # Saved, the notebook keeps the final state (no front end needed to read it).
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while True:
        texts = [o.get("data", {}).get("text/plain", "") for o in saved_outputs(jupyterlab, name, 1)]
        if any(": done · " in t for t in texts) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    joined = "\n".join(texts)
    assert f"{ROWS}/{ROWS}" in joined and f": done · {ROWS} of {ROWS} rows done" in joined
    assert "pending" not in joined

"""A `--video` job in a real JupyterLab, from a notebook in a subfolder: the cell returns with the
job's progress line, which ends as a <video> element whose relative address JupyterLab resolves
to the file the kernel downloaded beside the notebook (served by Jupyter, never xAI's URL);
saved and opened again (untrusted), the notebook still shows it."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.support.standin_imagine import imagine_state, make_mp4

from .conftest import open_notebook, run_all, screenshot

pytestmark = pytest.mark.browser


def saved_outputs(lab, name: str, cell: int) -> list[dict]:
    return lab.api("GET", f"/api/contents/{name}?content=1")["content"]["cells"][cell]["outputs"]


def test_a_video_job_ends_as_a_player_of_the_file_beside_the_notebook(jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    imagine_state(srv).video_polls = 6
    prompt = f"A red balloon over a town {uuid.uuid4().hex[:8]}"  # new (the ledger is shared)
    name = "clips/video.ipynb"
    jupyterlab.write_notebook(name, [
        "%load_ext grok_magic\n"
        "from grok_magic.runs.batch_job import PollSchedule\n"
        "get_ipython().magics_manager.registry['GrokMagics'].video_schedule = "
        "PollSchedule(first=0.3, factor=1.0, floor=0.3, cap=0.3)",
        f"%%grok --video --duration 3\n{prompt}",
    ])
    host = srv.base_url.split("//", 1)[1].split("/", 1)[0]
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url))
    open_notebook(page, jupyterlab, name)
    run_all(page)
    output = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(1) \
        .locator(".jp-OutputArea-output")
    expect(output).to_contain_text(re.compile(r"Grok Imagine video [\w-]+: (submitted|pending)"))
    screenshot(page, "running")

    player = output.locator("video.grok-video")
    expect(player).to_be_visible(timeout=60_000)
    expect(output).to_contain_text("3 s · $0.1500 (exact, from xAI)")
    # JupyterLab's resolver turned our relative address into the server's /files/ URL of it
    resolved = player.get_attribute("src")
    assert resolved.startswith(jupyterlab.base_url) and "/files/clips/grok-media/" in resolved
    served = page.request.get(resolved)
    assert served.status == 200 and served.body() == make_mp4(prompt, 3)
    assert not [u for u in loaded if host in u]  # the page never loaded anything from xAI
    screenshot(page, "done")

    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while True:
        html = "\n".join(o.get("data", {}).get("text/html", "")
                         for o in saved_outputs(jupyterlab, name, 1))
        if "<video" in html or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    [src] = re.findall(r"<video [^>]*src='([^']+)'", html)  # as the kernel wrote it: relative
    assert src.startswith("grok-media/") and src.endswith(".mp4") and src in resolved
    assert (jupyterlab.root / "clips" / src).read_bytes() == make_mp4(prompt, 3)
    assert host not in html and "pending" not in html

    # Opened again (its outputs untrusted now): the sanitiser keeps our player and its address.
    jupyterlab.shutdown_sessions()
    open_notebook(page, jupyterlab, name, wait_idle=False)
    reopened = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(1) \
        .locator("video")
    expect(reopened).to_have_count(1, timeout=30_000)
    assert "/files/clips/grok-media/" in reopened.get_attribute("src")

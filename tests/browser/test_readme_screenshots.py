"""The README's pictures, taken from real JupyterLab against the stand-in: an answer (Markdown,
a table, a code block with its bar, the usage line), a `--each` run over a DataFrame, `%grok log`,
an error, and the chat panel. Each shot is checked for what it must show, then saved: into
GROK_SCREENSHOTS (a folder; `python docs/make_screenshots.py` sets it to docs/images and keeps
the PNGs small) or, in a test run, into this test's artifacts folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.xai_standin import Fault, Reply

from .conftest import ARTIFACTS, open_notebook, run_all, write_notebook

pytestmark = pytest.mark.browser

ANSWER = """## What the chart shows

Sales **rise through spring**, dip in July and recover by autumn. The three regions:

| region | trend | peak month | growth |
|:-------|:------|:----------:|-------:|
| North  | steady rise | May | 12.5 % |
| South  | summer dip | April | 4.1 % |
| West   | flat | — | 0.3 % |

To draw the monthly totals yourself:

```python
monthly = sales.groupby(sales.date.dt.month)["amount"].sum()
monthly.plot(kind="bar", title="Sales per month")
```

The July dip matches the holiday closures noted in the data."""
WRONG_KEY = {"code": "Client specified an invalid argument",
             "error": "Incorrect API key provided: xa***yz. You can obtain an API key from "
                      "https://console.x.ai."}
CELLS = [
    "%load_ext grok_magic\nimport pandas as pd\n"
    "reviews = pd.DataFrame({'review': ['Great battery, lasts two days', 'Screen cracked in a "
    "week', 'Does the job, nothing more', 'Best phone I have owned']})",
    "%%grok\nWhat trend does this chart show? Compare the regions.",
    "%%grok --each reviews -o labels\nLabel this review as positive, negative or neutral: "
    "{review}",
    "%grok log 3",
    "%grok chat",
    "import os; os.environ['XAI_API_KEY'] = 'xai-wrong-key-for-the-picture-0000'\n"
    "%grok reset",
    "%%grok\nAnd what about next year?",
]


def out_dir(request) -> Path:
    folder = os.environ.get("GROK_SCREENSHOTS")
    path = Path(folder) if folder else ARTIFACTS / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(locator, folder: Path, name: str) -> Path:
    """`locator`'s picture as a small PNG (256 colours: screenshots of text compress well)."""
    from PIL import Image

    path = folder / f"{name}.png"
    locator.screenshot(path=str(path))
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def test_readme_screenshots(jupyterlab, page, request):
    srv = request.config._xai_standin
    srv.reset()
    srv.enqueue(Reply(content=ANSWER, delay=0.01))
    folder = out_dir(request)
    write_notebook(jupyterlab.root, "tour.ipynb", CELLS)
    open_notebook(page, jupyterlab, "tour.ipynb")
    srv.enqueue(*[Reply(content=label) for label in ("positive", "negative", "neutral",
                                                      "positive")])
    srv.enqueue(Fault(400, WRONG_KEY))
    run_all(page, expect_error=True, timeout=180_000)
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    page.evaluate("() => document.querySelector('.jp-Notebook').scrollTo(0, 0)")

    answer = cells.nth(1)
    expect(answer.locator(".grok-md table")).to_have_count(1)
    expect(answer.locator(".grok-code-bar")).to_have_count(1)
    expect(answer.locator(".grok-usage").first).to_contain_text("cost")
    shoot(answer, folder, "answer")

    each = cells.nth(2)
    expect(each).to_contain_text("4 of 4 answered")
    shoot(each, folder, "each")

    log = cells.nth(3)
    expect(log.locator("table")).to_have_count(1)
    shoot(log, folder, "log")

    panel = cells.nth(4).locator(".grok-panel")
    expect(panel).to_be_visible()
    shoot(panel, folder, "panel")

    error = cells.nth(6)
    expect(error).to_contain_text("API key")
    shoot(error, folder, "error")
    for name in ("answer", "each", "log", "panel", "error"):
        assert (folder / f"{name}.png").stat().st_size < 200_000, name

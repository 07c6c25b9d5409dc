"""Grok sees the notebook: {In[n]}, {Out[n]}, {Err}, described values, %grok explain / fix and
--to-cell — in a real kernel, through the real client to the stand-in."""

from __future__ import annotations

import json

import pytest

from tests.support.xai_standin import Reply, as_chat

pytestmark = pytest.mark.timeout(240)

FIXED = "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0"
FIX_ANSWER = (
    "Here is the cell, fixed: <img src=x onerror=alert(1)> [docs](javascript:alert(1))\n\n"
    f"```python\n{FIXED}\n```\n\nAn empty list no longer divides by zero.\n\n"
    "```python\nprint('second block')\n```\n"
)


def sent_text(srv) -> str:
    content = srv.answer_requests[-1].as_chat["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(
        p.get("text", "") for p in content if p["type"] == "text")


def test_in_out_and_err_are_filled_in(lab, xai_env):
    source = lab.run("x = 21 * 2\nx").reply["content"]["execution_count"]
    lab.run("{}['missing_key']")
    run = lab.run(f"%%grok\nCell: {{In[{source}]}} gave {{Out[{source}]}}. Then: {{Err}}")
    assert run.status == "ok", run.text()
    text = sent_text(xai_env)
    assert "Cell: x = 21 * 2\nx gave 42." in text
    assert "KeyError: 'missing_key'" in text and "Traceback" in text
    assert "\x1b[" not in text  # no terminal colours
    assert "site-packages" not in text  # only the user's frames


def test_a_cell_number_that_does_not_exist_sends_nothing(lab, xai_env):
    run = lab.run("%%grok\nLook at {Out[9999]}")
    assert run.status == "error" and "there is none" in run.text()
    assert xai_env.answer_requests == []


def test_dataframes_are_described_not_pasted(lab, xai_env):
    lab.run("import pandas as pd, numpy as np\n"
            "df = pd.DataFrame({'a': np.arange(100_000), 'b': np.random.default_rng(0).random(100_000)})")
    run = lab.run("%%grok\nWhat is in {df}?")
    assert run.status == "ok", run.text()
    text = sent_text(xai_env)
    assert "100,000 rows" in text and "int64" in text and "float64" in text
    assert "more rows" in text and len(text) < 4_200


def test_explain_sends_the_failing_cell_and_its_error(lab, xai_env):
    failed = lab.run("def mean(xs):\n    return sum(xs) / len(xs)\n\nmean([])")
    number = failed.reply["content"]["execution_count"]
    lab.run("print('a cell that works')")
    run = lab.run("%grok explain -m grok-3-mini")
    assert run.status == "ok", run.text()
    # The user sees which cell and which error are explained, before the answer.
    assert run.text().lstrip().startswith(
        f"Explaining Cell [{number}], ZeroDivisionError: division by zero")
    body = xai_env.answer_requests[-1].as_chat
    assert body["model"] == "grok-3-mini"
    text = sent_text(xai_env)
    assert "Explain this error" in text
    assert "def mean(xs):\n    return sum(xs) / len(xs)\n\nmean([])" in text
    assert "ZeroDivisionError: division by zero" in text
    assert run.next_input is None  # explain adds no cell


def test_fix_puts_the_code_in_a_new_cell_never_run(lab, xai_env):
    failed = lab.run("def mean(xs):\n    return sum(xs) / len(xs)\n\nmean([])")
    number = failed.reply["content"]["execution_count"]
    xai_env.enqueue(Reply(content=FIX_ANSWER))
    run = lab.run("%grok fix")
    assert run.status == "ok", run.text()
    assert "corrected cell" in sent_text(xai_env)
    assert run.next_input == FIXED  # the first Python block only; the HTML and link stay out
    shown = run.text()
    assert shown.lstrip().startswith(f"Fixing Cell [{number}], ZeroDivisionError: division by zero")
    # Where the fix went, and what it changes against the failed cell, after the answer.
    said = f"The fix is in a new cell below (not run). What it changes in Cell [{number}]:"
    assert shown.index(said) > shown.index("An empty list no longer divides by zero")
    diff = shown[shown.index(said) + len(said):]
    assert f"--- Cell [{number}]\n+++ the fix\n" in diff
    assert "\n def mean(xs):\n-    return sum(xs) / len(xs)\n" in diff
    assert "\n-mean([])\n" in diff  # the failing call, left out of the fix
    assert "\n+    return sum(xs) / len(xs) if xs else 0.0" in diff
    # Not executed: the old definition is still the one in the kernel.
    check = lab.run("import inspect; print(inspect.getsource(mean))")
    assert "if xs else" not in check.text()


def test_the_fix_diff_is_text_never_html_from_the_answer(lab, xai_env):
    lab.run("value = 1 / 0")
    hostile = "value = '<img src=x onerror=alert(1)>'\n# <script>alert(2)</script> \x1b]52;c;aGk=\x07"
    xai_env.enqueue(Reply(content=f"Fixed:\n\n```python\n{hostile}\n```\n"))
    run = lab.run("%grok fix")
    assert run.status == "ok", run.text()
    [note] = [m for m in run.outputs
              if "grok-diff" in (m["content"].get("data") or {}).get("text/html", "")]
    html, plain = note["content"]["data"]["text/html"], note["content"]["data"]["text/plain"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;script&gt;" in html
    assert "<img" not in html and "<script" not in html and "\x1b" not in html + plain
    assert "+value = '<img src=x onerror=alert(1)>'" in plain and "-value = 1 / 0" in plain


def test_to_cell_all_joins_every_python_block(lab, xai_env):
    xai_env.enqueue(Reply(content=FIX_ANSWER))
    run = lab.run("%%grok --to-cell all\nWrite two snippets")
    assert run.next_input == f"{FIXED}\n\nprint('second block')"
    xai_env.enqueue(Reply(content="No code here, just <b>words</b>."))
    run = lab.run("%%grok --to-cell\nJust talk")
    assert run.next_input is None and "no Python code block" in run.text()


def test_explain_and_fix_with_no_error_say_so_and_send_nothing(kernel, xai_env):
    kernel.run("%reload_ext grok_magic")  # a fresh watcher: no failure seen since
    for command in ("explain", "fix"):
        run = kernel.run(f"%grok {command}")
        assert run.status == "ok" and "No cell has failed yet" in run.text()
    assert xai_env.answer_requests == []


def test_fix_dry_run_shows_the_request_and_sends_nothing(lab, xai_env):
    lab.run("undefined_name + 1")
    run = lab.run("%grok fix --dry-run")
    assert run.status == "ok"
    shown = run.text()
    assert shown.lstrip().startswith("Fixing Cell [") and "NameError" in shown
    shown = shown[shown.index("POST "):]
    assert xai_env.answer_requests == [] and run.next_input is None
    body = json.loads(shown[shown.index("{"):shown.index("\n\ncurl")])
    assert as_chat(body)["messages"][-1]["content"].startswith("This notebook cell fails.")


def test_an_image_output_goes_as_an_image(lab, xai_env):
    count = lab.run("from PIL import Image\nImage.new('RGB', (40, 30), (200, 10, 10))"
                    ).reply["content"]["execution_count"]
    run = lab.run(f"%%grok\nWhat colour is {{Out[{count}]}}?")
    assert run.status == "ok", run.text()
    content = xai_env.answer_requests[-1].as_chat["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")

"""What a notebook front end receives while %%grok streams, measured in a real kernel."""

from __future__ import annotations

import re
import threading
import time

import pytest

from grok_magic.safety.markdown import render_html
from tests.support.kernel_helpers import LiveKernel, long_answer, run_cells
from tests.support.xai_standin import FAKE_KEY, Reply

pytestmark = pytest.mark.timeout(180)
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def streamed(xai_env):
    """A 20 KB answer in 5,000 chunks, streamed over ~3 s, through a real kernel."""
    answer = long_answer(20_000)
    chunk = -(-len(answer) // 5000)
    xai_env.enqueue(Reply(content=answer, chunk_chars=chunk, delay=0.0006))
    run = run_cells(["%load_ext grok_magic", "%%grok\nWrite a long answer"])
    return answer, run


def test_streaming_updates_are_throttled_and_linear(streamed):
    answer, run = streamed
    messages = [m for m in run.of_cell(1) if m.type in ("display_data", "update_display_data")]
    answer_msgs = [m for m in messages if WIDGET not in (m.content.get("data") or {})]
    pushed = sum(len(m.html) + len((m.content.get("data") or {}).get("text/plain", ""))
                 for m in answer_msgs)
    # Finished blocks are sent once; only the tail is updated: bytes stay linear in the answer.
    # What must be sent anyway is the final HTML (highlighted code makes it ~1.8x the Markdown)
    # and the plain twin; streaming may add at most half of that again (a quadratic tail would
    # add ~10x here: ~30 updates of a tail up to 20 KB).
    final = render_html(answer)
    assert pushed <= 1.5 * (len(final) + len(answer)), (pushed, len(final), len(answer))
    updates = [m for m in answer_msgs if m.type == "update_display_data"]
    content_updates = [m for m in updates if "thinking" not in m.html]
    duration = content_updates[-1].at - content_updates[0].at
    assert len(content_updates) <= 11 * max(duration, 0.1) + 3  # one update per flush, ~10/s


def test_final_displays_hold_the_whole_answer(streamed):
    answer, run = streamed
    final: dict[str, dict] = {}
    order: list[str] = []
    for m in run.of_cell(1):
        if m.type not in ("display_data", "update_display_data"):
            continue
        display_id = (m.content.get("transient") or {}).get("display_id") or str(id(m))
        if display_id not in final:
            order.append(display_id)
        final[display_id] = m.content["data"]
    bundles = [final[i] for i in order]
    answer_bundles = [b for b in bundles if "application/vnd.jupyter.widget-view+json" not in b]
    assert all({"text/html", "text/plain"} <= set(b) for b in answer_bundles)
    assert not any("text/markdown" in b for b in answer_bundles)
    assert "".join(b["text/plain"] for b in answer_bundles) == answer
    usage = bundles[-1]
    assert "application/vnd.jupyter.widget-view+json" in usage
    assert "completion" in usage["text/plain"] and "cost" in usage["text/html"]
    everything = str([m.content for m in run.messages])
    assert FAKE_KEY not in everything


def test_first_text_shows_before_the_stream_ends(streamed):
    answer, run = streamed
    msgs = [m for m in run.of_cell(1) if m.type in ("display_data", "update_display_data")]
    first_text = next(m for m in msgs if "Part 1" in m.html)
    last = max(m.at for m in msgs)
    assert last - first_text.at > 1.0  # visible while most of the answer is still coming


# -- the usage display ---------------------------------------------------------------------------
def widget_values(messages: list[dict]) -> list[str]:
    """The `value` of every widget the kernel opened (an HTML widget's rows)."""
    states = [m["content"]["data"]["state"] for m in messages if m["msg_type"] == "comm_open"]
    return [s["value"] for s in states if isinstance(s.get("value"), str)]


def test_a_stopped_answer_shows_its_estimated_cost_in_the_widget(xai_env):
    """The kernel interrupted mid-stream (the notebook's Stop button): the usage widget prices
    what arrived as an estimate, marked "≈", instead of "n/a"."""
    words = " ".join(f"word{i}" for i in range(300))
    xai_env.enqueue(Reply(content=words, delay=0.02))
    kernel = LiveKernel()
    try:
        assert kernel.run("%load_ext grok_magic").status == "ok"

        asked = len(xai_env.answer_requests)

        def interrupt_when_streaming():
            deadline = time.monotonic() + 30
            while len(xai_env.answer_requests) == asked and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.5)
            kernel.manager.interrupt_kernel()

        threading.Thread(target=interrupt_when_streaming, daemon=True).start()
        cell = kernel.run("%%grok\nCount slowly", timeout=60)
    finally:
        kernel.close()
    # A neutral note where the answer is; the cell still fails (Run all stops, nbval sees it),
    # with ename and evalue in the reply and a one-line traceback that repeats nothing.
    assert cell.status == "error" and "stopped: you interrupted" in cell.text()
    assert cell.reply["content"]["ename"] == "InterruptedByUser"
    (error,) = [m["content"] for m in cell.outputs if m["msg_type"] == "error"]
    assert error["traceback"] == ["InterruptedByUser (shown above)"]
    (usage,) = [m for m in cell.outputs if WIDGET in (m["content"].get("data") or {})]
    plain, shown = usage["content"]["data"]["text/plain"], usage["content"]["data"]["text/html"]
    assert re.search(r"cost: ≈ \$\d+\.\d+ \(estimated tokens, priced from ", plain), plain
    assert re.search(r"completion: ≈ \d", plain) and "n/a" not in plain, plain
    assert "≈ $" in shown and "(estimated tokens, priced from " in shown
    (value,) = widget_values(cell.outputs)
    assert "≈ $" in value and "(estimated tokens, priced from " in value and "n/a" not in value


def test_the_previous_cells_usage_widget_becomes_static_html_and_is_closed(xai_env):
    run = run_cells(["%load_ext grok_magic", "%%grok\nOne", "%%grok\nTwo",
                     "import ipywidgets; print(*ipywidgets.widgets.widget._instances)"])
    (first,) = [m for m in run.of_cell(1) if m.type == "display_data" and WIDGET in m.content["data"]]
    first_id, model_id = first.content["transient"]["display_id"], first.content["data"][WIDGET]["model_id"]
    later = run.of_cell(2)
    (update,) = [m for m in later if m.type == "update_display_data"
                 and m.content["transient"]["display_id"] == first_id]
    static = {k: v for k, v in first.content["data"].items() if k != WIDGET}
    assert update.content["data"] == static  # the same rows, in place, now without the widget
    (live,) = [m.content["text"].split() for m in run.of_cell(3) if m.type == "stream"]
    assert model_id not in live  # closed: the kernel holds no model or comm for it
    newest = [m for m in later if m.type == "display_data" and WIDGET in m.content["data"]]
    assert newest[-1].content["data"][WIDGET]["model_id"] in live
    # the saved notebook keeps the static rows for the first cell, the widget for the newest
    saved = [o["data"] for o in run.notebook.cells[1].outputs if o.get("output_type") == "display_data"]
    assert saved[-1] == static
    assert WIDGET in [o for o in run.notebook.cells[2].outputs if "data" in o][-1]["data"]


def test_a_cut_off_answer_is_priced_as_an_estimate_and_an_exact_one_is_not(xai_env):
    words = " ".join(f"word{i}" for i in range(40))
    xai_env.enqueue(Reply(content="A whole answer."), Reply(content=words, cut_after=8))
    run = run_cells(["%load_ext grok_magic", "%%grok\nWhole", "%%grok\nCut"], allow_errors=True)
    exact, cut = ([o["data"]["text/plain"] for o in run.notebook.cells[i].outputs
                   if "tokens · " in (o.get("data") or {}).get("text/plain", "")] for i in (1, 2))
    assert "≈" not in exact[-1] and "estimate" not in exact[-1]
    assert re.search(r"cost: \$\d+\.\d+ \(exact, from xAI\) ·", exact[-1]), exact
    assert re.search(r"total: ≈ \d[\d,]* · .*cost: ≈ \$\d+\.\d+ \(estimated tokens, priced from ",
                     cut[-1]), cut
    assert "session: ≈ " in cut[-1]  # the session total now holds an estimate too
    assert "StreamInterruptedError" in str(run.notebook.cells[2].outputs)

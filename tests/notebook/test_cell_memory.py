"""Many %%grok cells and a long chat keep no widget per answer beyond what is on screen.

Each cell's usage is a widget while it is the newest; the next cell's usage turns it into its
static twin (the same rows as HTML and text, in place) and closes it. Counted in the in-process
shell and in a real kernel (`ipywidgets.Widget` instances and open comms).
"""

from __future__ import annotations

import json

import ipywidgets as widgets

from grok_magic.notebook.panel import ChatPanel
from tests.support.kernel_helpers import LiveKernel
from tests.support.magic_helpers import magic_shell, run
from tests.support.panel_views import all_widgets
from tests.support.xai_standin import FAKE_KEY, Reply

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
COUNT = ("import comm, ipywidgets; print(len(ipywidgets.widgets.widget._instances), "
         "len(comm.get_comm_manager().comms))")


def live_widgets() -> int:
    return len(widgets.widget._instances)


def usage_display(out) -> tuple[str, dict]:
    """(display id, bundle) of the usage display a cell showed."""
    (shown,) = [o for o in out.raw if WIDGET_MIME in o.data and not o.update]
    return shown.transient["display_id"], dict(shown.data)


def test_many_cells_keep_the_widget_count_flat(xai_env):
    ip = magic_shell()
    for _ in range(3):
        assert run(ip, "%%grok\nHello").error is None
    before = live_widgets()
    for n in range(30):
        out = run(ip, f"%%grok\nQuestion {n}")
        assert out.error is None, out.everything()
        assert WIDGET_MIME in out.outputs[-1]  # the newest cell's usage is still a widget
    assert live_widgets() == before


def test_an_older_cells_usage_becomes_the_same_rows_as_static_html(xai_env):
    ip = magic_shell()
    first = run(ip, "%%grok\nOne")
    first_id, first_bundle = usage_display(first)
    model_id = first_bundle[WIDGET_MIME]["model_id"]
    assert model_id in widgets.widget._instances
    second = run(ip, "%%grok\nTwo")
    (update,) = [o for o in second.raw if o.update and o.transient["display_id"] == first_id]
    # What the first cell now shows (and a saved notebook keeps): its rows, no widget view.
    assert dict(update.data) == {k: v for k, v in first_bundle.items() if k != WIDGET_MIME}
    assert "grok-usage" in update.data["text/html"] and "completion" in update.data["text/html"]
    assert model_id not in widgets.widget._instances  # closed: its comm and model are gone
    assert WIDGET_MIME in second.outputs[-1]


def test_a_real_kernel_keeps_no_widget_or_comm_per_cell(xai_env):
    kernel = LiveKernel()
    try:
        assert kernel.run("%load_ext grok_magic").status == "ok"
        for _ in range(3):
            assert kernel.run("%%grok\nHello").status == "ok"
        before = kernel.run(COUNT).text().split()
        for n in range(20):
            cell = kernel.run(f"%%grok\nQuestion {n}")
            assert cell.status == "ok", cell.text()
        after = kernel.run(COUNT).text().split()
    finally:
        kernel.close()
    assert after == before, (before, after)


def test_a_long_chat_holds_only_the_widgets_of_its_messages(xai_env):
    panel = ChatPanel(model="grok-4.3", models=["grok-4.3"])
    panel.send("warm up")
    base = live_widgets()
    per_message = []
    for n in range(8):
        start = live_widgets()
        panel.send(f"Question {n}")
        per_message.append(live_widgets() - start)
        # Every new model is part of this exchange's views (the shared ones are reused).
        views = {w.model_id for box in panel._last.view.boxes for w in all_widgets(box)}
        assert per_message[-1] <= len(views), (per_message, len(views))
    assert len(set(per_message)) == 1, per_message  # the same for every message
    panel.retry()
    assert live_widgets() == base + 8 * per_message[0]  # the replaced answer's widgets are closed
    panel.new_chat()
    assert live_widgets() == base - per_message[0]  # the transcript's widgets are all closed


def test_closed_widgets_leave_no_key_and_the_panel_still_works(xai_env):
    panel = ChatPanel(model="grok-4.3", models=["grok-4.3"])
    panel.send("one")
    panel.new_chat()
    xai_env.enqueue(Reply(content="after new chat"))
    assert panel.send("two").text == "after new chat"
    states = [w.get_state() for w in all_widgets(panel.widget)]
    assert FAKE_KEY not in json.dumps(states, default=repr)

"""The bar above each code block of an answer (language, Copy, Insert below): where it shows, the
code it carries (as widget data, key masked, never markup) and what Insert below asks JupyterLab
to do. In a real kernel through the real client to the stand-in; the clicks themselves are in
tests/browser/test_code_bar_browser.py."""

from __future__ import annotations

import pytest

from grok_magic.notebook.code_bar import INSERTED, WAITING, CodeBar
from grok_magic.notebook.panel import ChatPanel
from tests.support.panel_views import answer_of
from tests.support.xai_standin import FAKE_KEY, Reply

pytestmark = pytest.mark.timeout(240)

CODE = "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0\n"
SHELL = f"export XAI_API_KEY={FAKE_KEY}\n"
ANSWER = (f"Use this:\n\n```python\n{CODE}```\n\nThen in a shell:\n\n```bash\n{SHELL}```\n\n"
          "- a list with a nested block:\n\n  ```\n  nested = True\n  ```\n\nDone.")
WIDGET = "application/vnd.jupyter.widget-view+json"


def final_outputs(run) -> list[dict]:
    """Each output's last data, in the order they appeared (updates replace in place)."""
    final: dict[str, dict] = {}
    for msg in run.outputs:
        if msg["msg_type"] not in ("display_data", "update_display_data"):
            continue
        content = msg["content"]
        key = (content.get("transient") or {}).get("display_id") or str(id(msg))
        final[key] = content["data"]
    return list(final.values())


def bar_states(run) -> dict[str, dict]:
    """The state of every CodeBar the cell opened, by model id."""
    return {m["content"]["comm_id"]: m["content"]["data"]["state"] for m in run.outputs
            if m["msg_type"] == "comm_open"
            and m["content"]["data"]["state"].get("_esm", "").find("grok-code-bar") >= 0}


def test_every_top_level_code_block_gets_a_bar_above_it(lab, xai_env):
    xai_env.enqueue(Reply(content=ANSWER))
    run = lab.run("%%grok\nShow me")
    assert run.status == "ok", run.text()
    bars = bar_states(run)
    assert [(s["language"], s["code"]) for s in bars.values()] == [
        ("python", CODE), ("bash", "export XAI_API_KEY=***\n")]  # the key masked in the data
    shown = final_outputs(run)
    kinds = ["bar" if WIDGET in d and d[WIDGET]["model_id"] in bars else
             "python" if "language-python" in d.get("text/html", "") else
             "bash" if "language-bash" in d.get("text/html", "") else "other" for d in shown]
    # Each bar sits right above its block; the block nested in a list has none.
    assert kinds.index("bar") + 1 == kinds.index("python")
    assert kinds[kinds.index("python") + 1:].index("bar") + 1 == \
        kinds[kinds.index("python") + 1:].index("bash")
    assert kinds.count("bar") == 2
    # The answer shows whole, as before: the pieces' plain twins join into the answer.
    text = "".join(d["text/plain"] for d in shown if WIDGET not in d and "text/html" in d
                   and "grok-thinking" not in d["text/html"])
    assert text.startswith("Use this:") and "nested = True" in text
    assert text.replace("export XAI_API_KEY=***", "") in ANSWER.replace(SHELL.strip(), "")
    # Never markup: the bar's plain text says what it is, not the code; no key anywhere.
    plain = [d["text/plain"] for d in shown if WIDGET in d and d[WIDGET]["model_id"] in bars]
    assert plain == ["python block: Copy, Insert below (in JupyterLab)",
                     "bash block: Copy, Insert below (in JupyterLab)"]
    assert FAKE_KEY not in str(run.outputs)


def test_a_code_only_answer_and_an_unclosed_block_get_bars(lab, xai_env):
    xai_env.enqueue(Reply(content="```python\nx = 1\n```"))
    assert [s["code"] for s in bar_states(lab.run("%%grok\nOne line")).values()] == ["x = 1\n"]
    xai_env.enqueue(Reply(content="Cut off:\n\n```python\ny = 2\nz ="))
    assert [s["code"] for s in bar_states(lab.run("%%grok\nCut")).values()] == ["y = 2\nz ="]


class FakeCommands:
    """Stands in for ipylab's bridge: records what JupyterLab would be asked (unit level)."""

    def __init__(self, ready: bool) -> None:
        self.ready, self.inserted, self.done = ready, [], []

    def insert_below(self, code, done):
        if not self.ready:
            self.done.append(done)
            return False
        self.inserted.append(code)
        done()
        return True


def test_insert_below_puts_the_code_in_a_new_cell_and_says_so():
    said = []
    commands = FakeCommands(ready=True)
    bar = CodeBar(CODE, "python", commands=commands)
    bar.send = lambda content: said.append(content)
    bar._handle_message(bar, {"type": "insert"}, [])  # what the front end sends on a click
    assert commands.inserted == [CODE]
    assert said == [{"type": "status", "text": INSERTED}]


def test_insert_below_waits_for_jupyterlab_and_says_why():
    said = []
    commands = FakeCommands(ready=False)
    bar = CodeBar(CODE, "python", commands=commands)
    bar.send = lambda content: said.append(content)
    bar.insert()
    assert said == [{"type": "status", "text": WAITING}] and commands.inserted == []


def test_the_lab_bridge_asks_for_a_cell_below_then_its_text():
    """LabCommands drives ipylab's command registry: insert a cell below, then set its text."""
    from grok_magic.notebook.code_bar import LabCommands

    commands = LabCommands()
    asked = []
    commands.app.commands.execute = lambda name, args=None: asked.append((name, args))
    done = []
    assert commands.insert_below(CODE, lambda: done.append(1)) is False  # not ready yet
    assert asked == []
    commands.app._on_frontend_msg(None, {"event": "lab_ready"}, [])  # JupyterLab answers
    assert asked == [("notebook:insert-cell-below", None),
                     ("notebook:replace-selection", {"text": CODE})]
    assert done == [1]


def test_the_panel_puts_a_bar_above_each_code_block(xai_env):
    panel = ChatPanel(model="grok-4.3", models=["grok-4.3"])
    xai_env.enqueue(Reply(content=ANSWER))
    panel.send("Show me")
    blocks = answer_of(panel).block_widgets
    bars = [i for i, b in enumerate(blocks) if isinstance(b, CodeBar)]
    assert [(blocks[i].language, blocks[i].code) for i in bars] == [
        ("python", CODE), ("bash", "export XAI_API_KEY=***\n")]
    for i in bars:  # the block right under each bar is its code
        html = blocks[i + 1].outputs[0]["data"]["text/html"]
        assert f"language-{blocks[i].language}" in html

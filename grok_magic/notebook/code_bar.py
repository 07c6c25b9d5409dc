"""Front: the bar above each code block of an answer — its language, Copy, and Insert below.

The bar is our own small front-end widget, never part of the model's HTML: the code travels as
widget data (key masked) and is only ever set as text (`textContent`, the clipboard, a cell's
source). Copy runs in the page (the clipboard API, or a hidden textarea where it is missing).
Insert below asks JupyterLab, through ipylab's command bridge, to add a code cell under the
answer's cell holding the code, not run: a click in an output makes that cell the active one.
"""

from __future__ import annotations

import anywidget
import traitlets

_ESM = """
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (error) {
    const area = document.createElement("textarea");
    area.value = text;
    area.style.cssText = "position: fixed; top: 0; left: 0; opacity: 0;";
    document.body.appendChild(area);
    area.select();
    let done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    area.remove();
    return done;
  }
}

function render({ model, el }) {
  const bar = document.createElement("div");
  bar.className = "grok-code-bar";
  const label = document.createElement("span");
  label.className = "grok-code-lang";
  label.textContent = model.get("language") || "code";
  const status = document.createElement("span");
  status.className = "grok-code-status";
  status.setAttribute("role", "status");
  let timer = null;
  const say = (text) => {
    status.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(() => { status.textContent = ""; }, 2500);
  };
  const button = (text, title, css) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = css;
    b.textContent = text;
    b.title = title;
    return b;
  };
  const copy = button("Copy", "Copy this code to the clipboard", "grok-code-copy");
  const insert = button("Insert below", "Put this code in a new cell below (not run)",
                        "grok-code-insert");
  copy.addEventListener("click", async () => {
    say(await copyText(model.get("code")) ? "Copied" : "Copy failed: select the code instead");
  });
  insert.addEventListener("click", () => { model.send({ type: "insert" }); });
  model.on("msg:custom", (message) => {
    if (message && message.type === "status") say(String(message.text || ""));
  });
  bar.append(label, status, copy, insert);
  el.appendChild(bar);
}
export default { render };
"""

_CSS = """
.grok-code-bar { display: flex; align-items: center; gap: 6px; box-sizing: border-box;
  margin: 8px 0 0; padding: 2px 4px 2px 8px; border: 1px solid var(--jp-border-color2, #ddd);
  border-bottom: none; border-radius: 4px 4px 0 0; background: var(--jp-layout-color2, #eee);
  font-family: var(--jp-ui-font-family, sans-serif); font-size: var(--jp-ui-font-size0, 11px);
  color: var(--jp-ui-font-color1, #333); }
.grok-code-lang { flex: 1 1 auto; font-family: var(--jp-code-font-family, monospace);
  opacity: 0.8; }
.grok-code-status { opacity: 0.8; font-style: italic; }
.grok-code-bar button { font: inherit; padding: 1px 8px; cursor: pointer;
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px;
  background: var(--jp-layout-color1, white); color: var(--jp-ui-font-color1, #333); }
.grok-code-bar button:hover { background: var(--jp-layout-color3, #ddd); }
"""

INSERTED = "Inserted below (not run)"
WAITING = "Insert below needs JupyterLab: waiting for it to answer…"


class LabCommands:
    """JupyterLab's commands, reached from the kernel through ipylab (one bridge per kernel,
    opened with the first bar so that it is ready by the first click)."""

    def __init__(self) -> None:
        from ipylab import JupyterFrontEnd

        self.ready = False
        self._waiting: list = []
        self.app = JupyterFrontEnd()
        self.app.on_ready(self._on_ready)

    def _on_ready(self) -> None:
        self.ready = True
        waiting, self._waiting = self._waiting, []
        for job in waiting:
            job()

    def insert_below(self, code: str, done) -> bool:
        """A new code cell below the active one holding `code`, not run; `done()` after. False
        while JupyterLab has not answered yet (it is done once it does)."""

        def run() -> None:
            self.app.commands.execute("notebook:insert-cell-below")
            self.app.commands.execute("notebook:replace-selection", {"text": code})
            done()

        if self.ready:
            run()
            return True
        self._waiting.append(run)
        return False


class Bridge:
    """The kernel's one LabCommands, made when first asked for."""

    commands: LabCommands | None = None

    @classmethod
    def get(cls) -> LabCommands:
        if cls.commands is None:
            cls.commands = LabCommands()
        return cls.commands


class CodeBar(anywidget.AnyWidget):
    """The bar above one code block: language label, Copy, Insert below. `code` is the block's
    code with the key masked; it is data, never markup."""

    _esm = _ESM
    _css = _CSS
    code = traitlets.Unicode("").tag(sync=True)
    language = traitlets.Unicode("").tag(sync=True)

    def __init__(self, code: str, language: str = "", *, commands: LabCommands | None = None,
                 **kwargs) -> None:
        super().__init__(code=code, language=language, **kwargs)
        self._commands = commands if commands is not None else Bridge.get()
        self.on_msg(self._handle_message)

    def __repr__(self) -> str:
        return f"{self.language or 'code'} block: Copy, Insert below (in JupyterLab)"

    def insert(self) -> None:
        """What clicking Insert below does: the code in a new cell below, not run."""
        placed = self._commands.insert_below(self.code, lambda: self.say(INSERTED))
        if not placed:
            self.say(WAITING)

    def say(self, text: str) -> None:
        """A short status next to the buttons (cleared after a moment)."""
        self.send({"type": "status", "text": text})

    def _handle_message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "insert":
            self.insert()

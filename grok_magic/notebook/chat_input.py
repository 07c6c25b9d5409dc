"""Front: the chat panel's input box — Enter sends, Shift+Enter starts a new line."""

from __future__ import annotations

import anywidget
import traitlets

# ipywidgets' Textarea reports no key presses to Python, so this small front-end widget does it.
# The text travels inside the submit message itself: a send can never overtake the typed text.
# Leaving the box sends its text as a message too ("typed"), not only as a state update:
# ipywidgets holds a model's state update back while its previous one is unacknowledged (the
# kernel busy), but sends messages — a Send button's click too — at once, in order. So a click
# on Send never reaches the kernel before the text typed before it.
_ESM = """
function render({ model, el }) {
  const box = document.createElement("textarea");
  box.className = "grok-input-box";
  box.rows = model.get("rows");
  box.placeholder = model.get("placeholder");
  box.value = model.get("value");
  box.setAttribute("data-lm-suppress-shortcuts", "true");
  box.style.cssText = "width: 100%; box-sizing: border-box; resize: vertical; font: inherit;" +
    "padding: 4px 6px; border: 1px solid var(--jp-border-color1, #ccc); border-radius: 2px;" +
    "background: var(--jp-layout-color0, white); color: var(--jp-ui-font-color0, black);";
  const sync = () => {
    if (model.get("value") !== box.value) {
      model.set("value", box.value);
      model.save_changes();
    }
  };
  box.addEventListener("keydown", (event) => {
    event.stopPropagation();  // keep the notebook's own shortcuts (Shift+Enter runs a cell) out
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sync();
      model.send({ type: "submit", text: box.value });
    }
  });
  box.addEventListener("change", () => {
    sync();
    model.send({ type: "typed", text: box.value });
  });
  model.on("change:value", () => {
    if (box.value !== model.get("value")) box.value = model.get("value");
  });
  model.on("change:placeholder", () => { box.placeholder = model.get("placeholder"); });
  el.appendChild(box);
}
export default { render };
"""


class ChatInput(anywidget.AnyWidget):
    """A multi-line input: Enter sends (calls the `on_submit` callbacks), Shift+Enter is a new
    line. `value` is the text, synced when the box loses focus and with every submit."""

    _esm = _ESM
    # not echoed: the "typed" message sets it too, and an echo could undo later typing
    value = traitlets.Unicode("").tag(sync=True, echo_update=False)
    placeholder = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.Int(3).tag(sync=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._submit_callbacks: list = []
        self.on_msg(self._handle_message)

    def on_submit(self, callback) -> None:
        """Call `callback(widget)` when the user presses Enter (after `value` is updated)."""
        self._submit_callbacks.append(callback)

    def submit(self, text: str | None = None) -> None:
        """What pressing Enter does, from Python (tests, scripted demos)."""
        if text is not None:
            self.value = text
        for callback in self._submit_callbacks:
            callback(self)

    def _handle_message(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "submit":
            self.submit(str(content.get("text", "")))
        elif content.get("type") == "typed":
            # as if the front end's state update came: not sent back to it, which would undo
            # whatever was typed since
            self.set_state({"value": str(content.get("text", ""))})

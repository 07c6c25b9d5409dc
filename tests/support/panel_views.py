"""What a ChatPanel shows, read from its widgets: every widget in it, its last answer view, and
the outputs, text and HTML that answer shows."""

from __future__ import annotations

import ipywidgets as widgets

from grok_magic.notebook.panel import AnswerView, ChatPanel


def all_widgets(root: widgets.Widget) -> list[widgets.Widget]:
    """`root` and every widget inside it, in document order."""
    found = [root]
    for child in getattr(root, "children", ()):
        found += all_widgets(child)
    return found


def by_class(panel: ChatPanel, css_class: str) -> list[widgets.Widget]:
    return [w for w in all_widgets(panel.widget) if css_class in getattr(w, "_dom_classes", ())]


def answer_of(panel: ChatPanel) -> AnswerView:
    """The answer view of the panel's last exchange."""
    return panel._last.view.answer


def shown_outputs(view: AnswerView) -> list[dict]:
    """The data of every Output widget of an answer that shows something, in order."""
    found = []
    for block in view.block_widgets:
        if isinstance(block, widgets.Output) and block.outputs:
            (output,) = block.outputs
            assert output["output_type"] == "display_data"
            found.append(output["data"])
    return found


def shown_text(panel_or_view: ChatPanel | AnswerView) -> str:
    """The answer as shown, once it has ended: the `text/plain` twins of its blocks, joined.

    Every block is final then, so each carries both `text/html` and `text/plain` (and never
    `text/markdown`: model text is only ever shown as our sanitised HTML).
    """
    view = answer_of(panel_or_view) if isinstance(panel_or_view, ChatPanel) else panel_or_view
    outputs = shown_outputs(view)
    for data in outputs:
        assert set(data) == {"text/html", "text/plain"}, set(data)
    return "".join(data["text/plain"] for data in outputs)


def shown_html(panel_or_view: ChatPanel | AnswerView) -> str:
    """The `text/html` of every block of the answer, joined (while streaming too)."""
    view = answer_of(panel_or_view) if isinstance(panel_or_view, ChatPanel) else panel_or_view
    return "".join(data["text/html"] for data in shown_outputs(view))

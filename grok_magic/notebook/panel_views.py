"""Front: the chat panel's pieces — its controls, a user turn, an answer (a widget sink), thumbnails."""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import NamedTuple

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from grok_magic.errors import GrokError, ImageError
from grok_magic.inputs.images import DEFAULT_MAX_IMAGE_SIDE
from grok_magic.inputs.prompt import sent_image_urls
from grok_magic.notebook.answer_view import AnswerStream
from grok_magic.notebook.chat_input import ChatInput
from grok_magic.notebook.display import ANSWER_CSS, SPINNER, close_widgets
from grok_magic.safety.redaction import redact

# Finished Markdown blocks are frozen in their own Output widgets (so each update re-sends only
# the unfinished tail), grouped so that adding one re-sends a short list of children.
FREEZE_CHARS = 200
GROUP_SIZE = 16
THUMB_SIDE = 192  # pixels of the thumbnail sent to the browser (shown at half that size)


def html_output(html_text: str, text: str | None = None) -> dict:
    """An Output widget's output: our sanitised HTML (JupyterLab typesets its vetted math), with
    the plain-text twin once the piece is final."""
    data = {"text/html": html_text} if text is None else {"text/html": html_text, "text/plain": text}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def html_text(text: str, css_class: str = "") -> str:
    """Our own short text as HTML, escaped (it may quote xAI's words)."""
    return f"<span class='{css_class}'>{html.escape(text)}</span>"


@dataclass
class Shared:
    """Models every view of a panel can point to, instead of opening its own for each widget
    (each comm_open costs the front end ~1 KB). Never changed: a change would reach them all."""

    layout: widgets.Layout = field(default_factory=widgets.Layout)
    html_style: HTMLStyle = field(default_factory=HTMLStyle)
    button_layout: widgets.Layout = field(
        default_factory=lambda: widgets.Layout(width="auto", align_self="flex-start"))
    button_style: widgets.ButtonStyle = field(default_factory=widgets.ButtonStyle)

    @property
    def models(self) -> tuple[widgets.Widget, ...]:
        return self.layout, self.html_style, self.button_layout, self.button_style

    def close(self, view: widgets.Widget) -> None:
        """Close a view taken off the transcript (its widgets, never the shared models)."""
        close_widgets(view, self.models)

    def html(self, value: str = "", css_class: str = "") -> widgets.HTML:
        classes = (css_class,) if css_class else ()
        return widgets.HTML(value, layout=self.layout, style=self.html_style, _dom_classes=classes)

    def vbox(self, children=(), css_class: str = "") -> widgets.VBox:
        classes = (css_class,) if css_class else ()
        return widgets.VBox(list(children), layout=self.layout, _dom_classes=classes)


def show(widget: widgets.Widget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def turn_parts(user_turn: Mapping) -> tuple[str, list[dict]]:
    """(text, image parts) of a user message."""
    content = user_turn.get("content")
    if isinstance(content, str):
        return content, []
    text = " ".join(p["text"] for p in content or () if p.get("type") == "text")
    return text, [p for p in content or () if p.get("type") == "image_url"]


def thumbnail(part: Mapping) -> widgets.Image:
    """A small image widget for an image part: data URLs are scaled down, URLs shown as given
    (the user chose them)."""
    url = part["image_url"]["url"]
    layout = widgets.Layout(max_width=f"{THUMB_SIDE // 2}px", max_height=f"{THUMB_SIDE // 2}px",
                            object_fit="contain")
    if not url.startswith("data:"):
        return widgets.Image(value=url.encode(), format="url", layout=layout)
    header, _, data = url.partition(",")
    raw = base64.b64decode(data)
    try:
        from PIL import Image

        with Image.open(io.BytesIO(raw)) as img:
            img.thumbnail((THUMB_SIDE, THUMB_SIDE))
            small = io.BytesIO()
            img.save(small, format="PNG")
        return widgets.Image(value=small.getvalue(), format="png", layout=layout)
    except Exception:  # noqa: BLE001 - a format Pillow cannot re-encode: show it as encoded
        return widgets.Image(value=raw, format=header[5:].split(";")[0].split("/")[-1], layout=layout)


class UserView:
    """A user turn in the transcript: the text as typed and image thumbnails."""

    def __init__(self, text: str, parts: Sequence[Mapping], shared: Shared | None = None) -> None:
        shared = shared or Shared()
        who = shared.html(html_text("You", "grok-who"))
        # The user's own words, escaped and shown as typed (line breaks kept).
        body = shared.html(f"<div style='white-space: pre-wrap'>{html.escape(text)}</div>",
                           "grok-user-text")
        images = []
        for part in parts:
            image = thumbnail(part)
            image.add_class("grok-user-image")
            images.append(image)
        self.box = shared.vbox([who, body, widgets.HBox(images, layout=shared.layout)], "grok-user")


class ExchangeViews(NamedTuple):
    """The two views of one exchange in the transcript."""

    user: UserView
    answer: AnswerView

    @property
    def boxes(self) -> tuple[widgets.Widget, widgets.Widget]:
        return self.user.box, self.answer.box


class AnswerView:
    """An answer in the transcript, and the widget sink of its AnswerStream: sanitised HTML in
    Output widgets (never raw model HTML); finished blocks are pushed once and frozen, grouped
    so each addition stays small; only the tail is updated (~10 times a second)."""

    def __init__(self, allowed_images: Collection[str] = (), clock=time.monotonic,
                 shared: Shared | None = None) -> None:
        self.shared = shared = shared or Shared()
        self.tail_widget = self._block()
        self._group = shared.vbox([self.tail_widget])
        self.blocks = shared.vbox([self._group], "grok-answer-text")
        self.note = shared.html(SPINNER + html_text("Grok is thinking…", "grok-note-text"),
                                "grok-note")
        self.copy_button = widgets.Button(
            description="Copy Markdown", icon="copy", disabled=True,
            tooltip="Show this answer's Markdown, ready to select and copy",
            layout=shared.button_layout, style=shared.button_style, _dom_classes=("grok-copy",),
        )
        self.copy_button.on_click(self._toggle_copy)
        self.copy_text: widgets.Textarea | None = None  # made on the first click
        self.extras = shared.vbox()
        self.box = shared.vbox([
            shared.html(html_text("Grok", "grok-who")), self.blocks, self.note,
            self.copy_button, self.extras,
        ], "grok-answer")
        self._shown: str | None = None
        self._waiting = True  # the note shows the thinking line until text arrives
        self.stream = AnswerStream(self, allowed_images=allowed_images, freeze_chars=FREEZE_CHARS,
                                   clock=clock)

    # -- inputs (from the worker thread) -------------------------------------------------------
    def feed(self, content: str, reasoning: str = "") -> None:
        self.stream.feed(content, reasoning)

    def take(self, delta) -> None:
        self.stream.take(delta)

    def finish(self, note: str = "", css_class: str = "", response=None) -> None:
        self.stream.finish(note, css_class, response)

    @property
    def text(self) -> str:
        """The answer's text so far, key masked (the stream masks each flushed piece on its own,
        so a key that arrived split over several flushes is only masked in the whole)."""
        return redact(self.stream.text)

    @property
    def updates(self) -> int:
        return self.stream.updates

    @property
    def block_widgets(self) -> list[widgets.Widget]:
        """The answer's blocks in order: Output widgets, and a CodeBar above each code block."""
        return [block for group in self.blocks.children for block in group.children]

    # -- the sink ------------------------------------------------------------------------------
    def _block(self) -> widgets.Output:
        return widgets.Output(layout=self.shared.layout, _dom_classes=("grok-block",))

    def _set(self, html_text_: str, text: str | None = None) -> None:
        if text is not None:
            text = redact(text)  # the plain twin is synced widget state: saved with the notebook
        if html_text_ != self._shown or text is not None:
            self.tail_widget.outputs = (html_output(html_text_, text),)
            self._shown = html_text_

    def thinking(self, line: str) -> None:
        if self._waiting:
            self.note.value = SPINNER + html_text(line, "grok-note-text")

    def _stop_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self.note.value = ""

    def tail(self, html_text_: str, text: str) -> None:
        self._stop_waiting()
        self._set(html_text_)

    def freeze(self, html_text_: str, text: str) -> None:
        self._stop_waiting()
        self._set(html_text_, text)
        self.tail_widget = self._block()
        self._shown = None
        self._add(self.tail_widget)

    def end(self, html_text_: str, text: str, note: str, kind: str) -> None:
        self._stop_waiting()
        if html_text_:
            self._set(html_text_, text)
        self.note.value = html_text(note, "grok-note-text") if note else ""
        if kind:
            self.note.add_class(kind)
        self.copy_button.disabled = not self.text

    def reasoning(self, text: str) -> None:
        """The model's reasoning, collapsed, shown as plain text."""
        self._folded("grok-reasoning", f"Reasoning ({len(text):,} characters)", text)

    def _folded(self, css_class: str, title: str, text: str) -> None:
        body = widgets.Output(layout=self.shared.layout)
        body.outputs = ({"output_type": "stream", "name": "stdout", "text": text},)
        box = widgets.Accordion(children=[body], titles=(title,), selected_index=None,
                                layout=self.shared.layout, _dom_classes=(css_class,))
        self.extras.children = (*self.extras.children, box)

    def sources(self, html_text_: str, text: str) -> None:
        """The numbered Sources list under the answer (links only, from the safe renderer)."""
        box = widgets.Output(layout=self.shared.layout, _dom_classes=("grok-sources",))
        box.outputs = (html_output(html_text_, redact(text)),)
        self.extras.children = (*self.extras.children, box)

    def code_ran(self, html_text_: str, text: str) -> None:
        """The code Grok ran on xAI's servers (folded, highlighted) and what it printed, from
        the safe renderer."""
        box = widgets.Output(layout=self.shared.layout, _dom_classes=("grok-code-ran-box",))
        box.outputs = (html_output(html_text_, redact(text)),)
        self.extras.children = (*self.extras.children, box)

    def code_block(self, code: str, language: str) -> None:
        """The bar (language, Copy, Insert below) goes above the block the next freeze shows."""
        from grok_magic.notebook.code_bar import CodeBar

        self._stop_waiting()
        bar = CodeBar(code, language)
        bar.add_class("grok-code-block-bar")
        # The bar takes the tail's place (the tail is always the last child of the last group).
        self._group.children = (*self._group.children[:-1], bar)
        self.tail_widget = self._block()
        self._shown = None
        self._add(self.tail_widget)

    def _add(self, widget: widgets.Widget) -> None:
        if len(self._group.children) < GROUP_SIZE:
            self._group.children = (*self._group.children, widget)
        else:
            self._group = self.shared.vbox([widget])
            self.blocks.children = (*self.blocks.children, self._group)

    def add_usage(self, usage_html: str) -> None:
        """The usage rows (our HTML) under the answer, in one widget on the shared models."""
        self.extras.children = (*self.extras.children, self.shared.html(usage_html, "grok-usage"))

    def _toggle_copy(self, _button=None) -> None:
        if self.copy_text is None:
            self.copy_text = widgets.Textarea(value=self.text, rows=8,
                                              _dom_classes=("grok-copy-text",),
                                              layout=widgets.Layout(width="100%"))
            children = list(self.box.children)
            children.insert(children.index(self.copy_button) + 1, self.copy_text)
            self.box.children = tuple(children)
        else:
            show(self.copy_text, self.copy_text.layout.display == "none")


def remove_boxes(transcript: widgets.Box, boxes: Sequence[widgets.Widget], shared: Shared) -> None:
    """Take `boxes` off the transcript and close their widgets (never the shared models)."""
    transcript.children = tuple(c for c in transcript.children if all(c is not b for b in boxes))
    for box in boxes:
        shared.close(box)


def history_views(messages: Sequence[Mapping], sent_urls: set[str],
                  shared: Shared) -> tuple[widgets.Widget, ...]:
    """Views of a conversation's earlier turns (e.g. from %%grok cells), without usage; the
    images those turns sent are added to `sent_urls` (an answer may show them)."""
    views = []
    for message in messages:
        if message["role"] == "user":
            text, parts = turn_parts(message)
            sent_urls.update(sent_image_urls(message))
            views.append(UserView(text, parts, shared).box)
        elif message["role"] == "assistant":
            answer = AnswerView(sent_urls, shared=shared)
            answer.feed(message.get("content") or "")
            answer.finish()
            views.append(answer.box)
    return tuple(views)


# What the input box says: a chat message, or (the Imagine toggle on) a prompt for an image.
PLACEHOLDERS = ("Ask Grok… (Enter sends, Shift+Enter for a new line)",
                "Describe the image… (Enter makes it; attached images are its references)")
UPLOAD_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".webp": "image/webp", ".gif": "image/gif"}
UPLOAD_ACCEPT = ",".join([*UPLOAD_TYPES, *sorted(set(UPLOAD_TYPES.values()))])
# Our own CSS (no model text in it): chat bubbles, and Output widgets drawn as plain blocks.
PANEL_CSS = """<style>
.grok-panel { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 6px; padding: 6px; }
.grok-panel .grok-transcript { max-height: 640px; overflow-y: auto; flex-direction: column-reverse; }
.grok-panel .widget-box > * { flex-shrink: 0; }
.grok-panel .grok-input { flex: 1 1 auto; }
.grok-panel .grok-user { background: var(--jp-layout-color2, #f3f3f3); border-radius: 6px;
  padding: 2px 8px; margin: 4px 0 2px 15%; }
.grok-panel .grok-answer { padding: 2px 8px; margin: 2px 15% 6px 0; }
.grok-panel .grok-who { font-weight: bold; font-size: 0.85em; opacity: 0.7; }
.grok-panel .jp-OutputArea-prompt { display: none; }
.grok-panel .jp-OutputArea-child { margin: 0; }
.grok-panel .grok-note { font-size: 0.85em; font-style: italic; opacity: 0.8; }
.grok-panel .widget-html-content { line-height: 1.4; }
.grok-panel .grok-error { color: var(--jp-error-color1, #b00); }
.grok-panel .grok-error p { margin: 4px 0; }
.grok-panel .grok-totals { font-size: 0.85em; opacity: 0.8; white-space: pre-line; }
.grok-panel .grok-queued { font-size: 0.85em; font-style: italic; }
.grok-panel .grok-thumb { align-items: center; }
/* ipywidgets' upload button counts the files of its last pick ("Image (0)" once they are taken
   in): its own text is hidden, ours says what it does. */
.grok-panel button.grok-upload { font-size: 0; }
.grok-panel button.grok-upload i { font-size: var(--jp-widgets-font-size, 13px); }
.grok-panel button.grok-upload::after { content: "Add image";
  font-size: var(--jp-widgets-font-size, 13px); margin-left: 4px; }
</style>""" + ANSWER_CSS  # answers' tables, headings and spinner look as in cells


class PanelControls:
    """The chat panel's widgets and the images attached to the next message (no sending here)."""

    detail: str | None = None
    max_image_side: int = DEFAULT_MAX_IMAGE_SIDE

    def build_view(self, model: str, system: str) -> None:
        self.model_picker = widgets.Dropdown(
            options=[model], value=model, description="Model",
            layout=widgets.Layout(width="auto", min_width="260px"),
            _dom_classes=("grok-model",),
        )
        self.new_button = widgets.Button(
            description="New chat", icon="file", _dom_classes=("grok-new",),
            tooltip="Forget the turns and clear the transcript",
        )
        self.retry_button = widgets.Button(
            description="Retry", icon="redo", disabled=True, _dom_classes=("grok-retry",),
            tooltip="Ask the last question again",
        )
        self.search_toggle = widgets.ToggleButton(
            value=False, description="Search", icon="globe", _dom_classes=("grok-search",),
            tooltip="Let Grok search the web and X and cite its sources (xAI's Responses API)",
        )
        # Synced when the box is left, not per key: while the kernel is busy ipywidgets holds
        # back a model's updates after its first, and a click on Send (sent at once) would
        # overtake all but the first key typed.
        self.system_box = widgets.Textarea(
            value=system, placeholder="optional: how Grok should answer", rows=1,
            continuous_update=False,
            description="System prompt", style={"description_width": "initial"},
            layout=widgets.Layout(width="100%"),
            _dom_classes=("grok-system",),
        )
        # The turns, inside a scroll box laid out bottom-up so that it stays scrolled to the end
        # as answers arrive (ipywidgets has no scrolling API).
        self.transcript = widgets.VBox([], _dom_classes=("grok-turns",))
        scroller = widgets.VBox([self.transcript], _dom_classes=("grok-transcript",))
        self.error_box = widgets.HTML(layout=widgets.Layout(display="none"),
                                      _dom_classes=("grok-error",))
        self.queue_note = widgets.HTML(layout=widgets.Layout(display="none"),
                                       _dom_classes=("grok-queued",))
        self.attachments = widgets.HBox([], _dom_classes=("grok-attachments",))
        # Enter sends, Shift+Enter is a new line (a small front-end widget: ipywidgets' Textarea
        # reports no keys). Its text travels with each Enter and, as a message ordered with the
        # click, when the box is left: neither Enter nor a click on Send overtakes the typing.
        self.input = ChatInput(
            placeholder=PLACEHOLDERS[0], rows=3,
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
            _dom_classes=("grok-input",),
        )
        self.input.on_submit(lambda _input: self.handle_send())
        self.send_button = widgets.Button(
            description="Send", icon="paper-plane", button_style="primary",
            _dom_classes=("grok-send",),
        )
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", disabled=True, _dom_classes=("grok-stop",),
            tooltip="Stop the answer; the partial text stays",
        )
        self.imagine_toggle = widgets.ToggleButton(
            value=False, description="Imagine", icon="image", _dom_classes=("grok-imagine",),
            tooltip="Send makes an image with Grok Imagine (attached images are its references); "
                    "it is not added to the chat",
        )
        self.imagine_toggle.observe(
            lambda change: setattr(self.input, "placeholder", PLACEHOLDERS[bool(change["new"])]),
            names="value")
        self.upload = widgets.FileUpload(
            accept=UPLOAD_ACCEPT, multiple=True, description="Image", _dom_classes=("grok-upload",),
        )
        self.totals_view = widgets.HTML(
            html_text("No answers yet.", "grok-totals-text"), _dom_classes=("grok-totals",),
        )

        self.send_button.on_click(self.handle_send)
        self.stop_button.on_click(lambda _button: self.stop())
        self.new_button.on_click(lambda _button: self.new_chat())
        self.retry_button.on_click(self.handle_retry)
        self.upload.observe(self._on_upload, names="value")

        buttons = widgets.VBox([self.send_button, self.imagine_toggle, self.stop_button,
                                self.upload],
                               layout=widgets.Layout(width="auto"))
        self.widget = widgets.VBox([
            widgets.HTML(PANEL_CSS),
            widgets.HBox([self.model_picker, self.new_button, self.retry_button,
                          self.search_toggle]),
            self.system_box,
            scroller,
            self.error_box,
            self.queue_note,
            self.attachments,
            widgets.HBox([self.input, buttons]),
            self.totals_view,
        ])
        self.widget.add_class("grok-panel")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = repr(self)
        return bundle

    @property
    def model(self) -> str:
        return self.model_picker.value

    @model.setter
    def model(self, value: str) -> None:
        if value not in self.model_picker.options:
            self.model_picker.options = (value, *self.model_picker.options)
        self.model_picker.value = value

    def refresh_models(self) -> list[str]:
        """Fill the picker from `list_models()`; keep the configured model alone if xAI is
        unreachable or no key is set."""
        client = self.client
        if not client.settings.has_key:
            return list(self.model_picker.options)
        try:
            ids = [m.id for m in client.list_models()]
        except GrokError:
            return list(self.model_picker.options)
        self.set_models(ids)
        return ids

    def set_models(self, ids: Sequence[str]) -> None:
        """Offer these model ids in the picker, keeping the current choice."""
        current = self.model_picker.value
        options = [current, *(i for i in ids if i != current)]
        with self.model_picker.hold_trait_notifications():
            self.model_picker.options = options
            self.model_picker.value = current

    @property
    def system(self) -> str:
        return self.system_box.value

    @system.setter
    def system(self, value: str | None) -> None:
        self.system_box.value = value or ""

    # -- attachments ---------------------------------------------------------------------------
    def image_part(self, source: object) -> dict:
        """An image (bytes, PIL image, path, URL, …) as a content part, via the images module."""
        if isinstance(source, Mapping) and source.get("type") == "image_url":
            return dict(source)
        from grok_magic.inputs.images import to_image_part

        return to_image_part(source, detail=self.detail, max_side=self.max_image_side)

    def attach(self, source: object, name: str | None = None) -> dict:
        """Add an image to the next message (shown as a removable thumbnail)."""
        part = self.image_part(source)
        image = thumbnail(part)
        remove = widgets.Button(description="", icon="times",
                                tooltip=f"Remove {name or 'this image'}",
                                layout=widgets.Layout(width="28px", height="24px", padding="0",
                                                      align_self="center"))
        remove.add_class("grok-thumb-remove")
        box = widgets.VBox([image, remove])
        box.add_class("grok-thumb")
        entry = (part, box)
        remove.on_click(lambda _button: self._remove_attachment(entry))
        self._attachments.append(entry)
        self._sync_attachments()
        return part

    @property
    def pending_images(self) -> list[dict]:
        """Image parts attached for the next message."""
        return [part for part, _box in self._attachments]

    def _remove_attachment(self, entry) -> None:
        self._attachments = [e for e in self._attachments if e is not entry]
        self._sync_attachments()
        close_widgets(entry[1])

    def set_attachments(self, parts: Sequence[dict]) -> None:
        old, self._attachments = self._attachments, []
        for part in parts:
            self.attach(part)
        self._sync_attachments()
        for _part, box in old:
            close_widgets(box)

    def _sync_attachments(self) -> None:
        self.attachments.children = tuple(box for _part, box in self._attachments)

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        self.upload.value = ()  # take the files, so the same file can be chosen again
        for f in files:
            name = f.get("name") or "upload"
            suffix = PurePath(name).suffix.lower()
            try:
                if suffix not in UPLOAD_TYPES and f.get("type") not in UPLOAD_TYPES.values():
                    raise ImageError(f"{name} is not a PNG, JPEG, WebP or GIF image", source=name)
                try:
                    self.attach(bytes(f["content"]), name=name)
                except ImageError as err:
                    raise ImageError(f"{name}: {err.message}", source=name, hint=err.hint) from None
            except GrokError as err:
                self.show_error(err)

    # -- messages ------------------------------------------------------------------------------
    def say_queued(self, text: str) -> None:
        """The line about a message waiting to be sent ("" hides it)."""
        self.queue_note.value = html_text(text, "grok-note-text") if text else ""
        show(self.queue_note, bool(text))

    def show_error(self, error: BaseException) -> None:
        self.error = error
        if isinstance(error, GrokError):
            text = error.paragraph()
        else:
            text = redact(f"Unexpected error ({type(error).__name__}: {error}). "
                          "This is a bug in grok_magic.")
        self.error_box.value = f"<p class='grok-error-text'>{html.escape(text)}</p>"
        show(self.error_box, True)

    def clear_error(self) -> None:
        self.error = None
        self.error_box.value = ""
        show(self.error_box, False)

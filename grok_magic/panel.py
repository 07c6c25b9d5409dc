"""Front: ChatPanel — an ipywidgets chat with streaming Markdown, images, Stop and token usage."""

from __future__ import annotations

import base64
import contextvars
import html
import io
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from grok_magic.chat_input import ChatInput
from grok_magic.client import GrokClient, ResponseStream
from grok_magic.conversation import Conversation
from grok_magic.errors import GrokError, ImageError, InputError, InterruptedByUser
from grok_magic.messages import user_message
from grok_magic.render import (
    THINKING_INTERVAL,
    UPDATE_INTERVAL,
    Pacer,
    UsageDisplay,
    format_cost,
    split_point,
    thinking_text,
)
from grok_magic.response import Response, Usage
from grok_magic.safety import safe_markdown
from grok_magic.settings import Settings

MAX_IMAGE_SIDE = 2048
# Finished Markdown blocks are frozen in their own Output widgets (so each update re-sends only
# the unfinished tail), grouped so that adding one re-sends a short list of children.
FREEZE_CHARS = 200
GROUP_SIZE = 16
THUMB_SIDE = 192  # pixels of the thumbnail sent to the browser (shown at half that size)
UPLOAD_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".webp": "image/webp", ".gif": "image/gif"}
UPLOAD_ACCEPT = ",".join([*UPLOAD_TYPES, *sorted(set(UPLOAD_TYPES.values()))])
WAIT_POLL = 0.1  # seconds between checks for a kernel interrupt while send() waits

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
.grok-panel .grok-totals { font-size: 0.85em; opacity: 0.8; }
</style>"""


def _markdown_output(markdown: str) -> dict:
    return {"output_type": "display_data", "data": {"text/markdown": markdown}, "metadata": {}}


def _html_text(text: str, css_class: str = "") -> str:
    """Our own short text as HTML, escaped (it may quote xAI's words)."""
    return f"<span class='{css_class}'>{html.escape(text)}</span>"


@dataclass
class _Shared:
    """Models every view of a panel can point to, instead of opening its own for each widget
    (each comm_open costs the front end ~1 KB). Never changed: a change would reach them all."""

    layout: widgets.Layout = field(default_factory=widgets.Layout)
    html_style: HTMLStyle = field(default_factory=HTMLStyle)

    def html(self, value: str = "", css_class: str = "") -> widgets.HTML:
        classes = (css_class,) if css_class else ()
        return widgets.HTML(value, layout=self.layout, style=self.html_style, _dom_classes=classes)

    def vbox(self, children=(), css_class: str = "") -> widgets.VBox:
        classes = (css_class,) if css_class else ()
        return widgets.VBox(list(children), layout=self.layout, _dom_classes=classes)


def _show(widget: widgets.Widget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def _sent_urls(parts: Iterable[Mapping]) -> set[str]:
    return {p["image_url"]["url"] for p in parts
            if p.get("type") == "image_url" and p["image_url"]["url"].startswith(("http://", "https://"))}


def _turn_parts(user_turn: Mapping) -> tuple[str, list[dict]]:
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

    def __init__(self, text: str, parts: Sequence[Mapping], shared: _Shared | None = None) -> None:
        shared = shared or _Shared()
        who = shared.html(_html_text("You", "grok-who"))
        # The user's own words, escaped and shown as typed (line breaks kept).
        body = shared.html(f"<div style='white-space: pre-wrap'>{html.escape(text)}</div>",
                           "grok-user-text")
        images = []
        for part in parts:
            image = thumbnail(part)
            image.add_class("grok-user-image")
            images.append(image)
        self.box = shared.vbox([who, body, widgets.HBox(images, layout=shared.layout)], "grok-user")


class AnswerView:
    """An answer in the transcript. Text streams into Output widgets as Markdown (rendered by the
    front end, never as raw HTML); finished blocks are pushed once and frozen, only the tail is
    updated (~10 times a second), so the bytes sent grow linearly with the answer."""

    def __init__(self, allowed_images: Collection[str] = (), clock=time.monotonic,
                 shared: _Shared | None = None) -> None:
        self.allowed_images = allowed_images
        self.shared = shared = shared or _Shared()
        self.clock = clock
        self.started = clock()
        self.text = ""
        self.updates = 0
        self._committed = 0
        self._shown: str | None = None
        self._pacer = Pacer(clock)
        self._reasoning_chars = 0
        self._thinking = True
        self.tail = self._block()
        self._group = shared.vbox([self.tail])
        self.blocks = shared.vbox([self._group], "grok-answer-text")
        self.note = shared.html(_html_text("Grok is thinking…", "grok-note-text"), "grok-note")
        self.copy_button = widgets.Button(
            description="Copy Markdown", icon="copy", disabled=True,
            tooltip="Show this answer's Markdown, ready to select and copy",
            layout=widgets.Layout(width="auto", align_self="flex-start"), _dom_classes=("grok-copy",),
        )
        self.copy_button.on_click(self._toggle_copy)
        self.copy_text: widgets.Textarea | None = None  # made on the first click
        self.extras = shared.vbox()
        self.box = shared.vbox([
            shared.html(_html_text("Grok", "grok-who")), self.blocks, self.note,
            self.copy_button, self.extras,
        ], "grok-answer")

    def _block(self) -> widgets.Output:
        return widgets.Output(layout=self.shared.layout, _dom_classes=("grok-block",))

    def _set(self, text: str) -> None:
        markdown = safe_markdown(text, self.allowed_images)
        if markdown != self._shown:
            self.tail.outputs = (_markdown_output(markdown),)
            self._shown = markdown

    def _freeze(self, text: str) -> None:
        """Show `text` in the tail for good; a new, empty tail follows it."""
        self._set(text)
        self.tail = self._block()
        self._shown = None
        if len(self._group.children) < GROUP_SIZE:
            self._group.children = (*self._group.children, self.tail)
        else:
            self._group = self.shared.vbox([self.tail])
            self.blocks.children = (*self.blocks.children, self._group)

    @property
    def block_widgets(self) -> list[widgets.Output]:
        """The answer's Output widgets, in order."""
        return [block for group in self.blocks.children for block in group.children]

    def feed(self, content: str, reasoning: str = "") -> None:
        """Take one stream delta; update the widgets if enough time has passed."""
        self.text += content
        self._reasoning_chars += len(reasoning)
        if not self.text:
            if self._pacer.ready(THINKING_INTERVAL):
                seconds = self.clock() - self.started
                self.note.value = _html_text(thinking_text(seconds, self._reasoning_chars),
                                             "grok-note-text")
                self.updates += 1
        elif self._pacer.ready(UPDATE_INTERVAL):
            self.flush()

    def flush(self) -> None:
        """Show what has arrived: freeze finished blocks, update the tail."""
        self.updates += 1
        if self._thinking and self.text:
            self._thinking = False
            self.note.value = ""
        tail = self.text[self._committed :]
        point = split_point(tail)
        if point >= FREEZE_CHARS:
            self._freeze(tail[:point])
            self._committed += point
            tail = self.text[self._committed :]
        if tail:
            self._set(tail)

    def finish(self, note: str = "", css_class: str = "") -> None:
        """The last update: the whole tail, a note on how the answer ended, the Copy button."""
        self._thinking = False
        self.updates += 1
        tail = self.text[self._committed :]
        if tail:
            self._set(tail)
        if not self.text and not note:
            note = "(empty answer)"
        self.note.value = _html_text(note, "grok-note-text") if note else ""
        if css_class:
            self.note.add_class(css_class)
        self.copy_button.disabled = not self.text

    def add_reasoning(self, reasoning: str) -> None:
        """The model's reasoning, collapsed, shown as plain text."""
        body = widgets.Output()
        body.outputs = ({"output_type": "stream", "name": "stdout", "text": reasoning},)
        box = widgets.Accordion(children=[body], titles=(f"Reasoning ({len(reasoning):,} characters)",),
                                selected_index=None)
        box.add_class("grok-reasoning")
        self.extras.children = (*self.extras.children, box)

    def add_usage(self, usage_widget: widgets.Widget) -> None:
        self.extras.children = (*self.extras.children, usage_widget)

    def _toggle_copy(self, _button=None) -> None:
        if self.copy_text is None:
            self.copy_text = widgets.Textarea(value=self.text, rows=8, _dom_classes=("grok-copy-text",),
                                              layout=widgets.Layout(width="100%"))
            children = list(self.box.children)
            children.insert(children.index(self.copy_button) + 1, self.copy_text)
            self.box.children = tuple(children)
        else:
            _show(self.copy_text, self.copy_text.layout.display == "none")


@dataclass(eq=False)  # compared by identity: the panel looks exchanges up in lists
class _Exchange:
    """One send: what the user sent, its views, and how it ended."""

    text: str
    parts: list[dict]
    user_turn: dict
    model: str
    system: str
    from_input: bool
    blocking: bool
    user_view: UserView
    answer_view: AnswerView
    response: Response | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def boxes(self) -> tuple[widgets.Widget, widgets.Widget]:
        return self.user_view.box, self.answer_view.box


class ChatPanel:
    """A chat with Grok in a notebook: transcript, input, image attachments, model picker,
    system prompt, Stop, Retry, New chat, and token usage after each answer.

    Display it (`display(panel)`, or make it a cell's last value); or script it::

        panel = ChatPanel(system="Answer briefly.")
        panel                                   # shows the panel
        response = panel.send("What is a p-value?", images=["chart.png"])
        panel.conversation.messages             # the turns so far (shared with %%grok via %grok chat)

    The input is a multi-line box: Enter sends (as does the Send button), Shift+Enter starts a
    new line.
    Each answer streams in a worker thread, so Stop works while it runs.
    """

    def __init__(
        self,
        model: str | None = None,
        system: str | None = None,
        conversation: Conversation | None = None,
        client: GrokClient | None = None,
        *,
        models: Sequence[str] | None = None,
        detail: str | None = None,
        max_image_side: int = MAX_IMAGE_SIDE,
    ) -> None:
        if conversation is None:
            conversation = Conversation(system=system)
        self.conversation = conversation
        self.detail = detail
        self.max_image_side = max_image_side
        self.totals = Usage()
        self.total_cost = 0.0
        self.answers = 0
        self.error: BaseException | None = None
        self._client = client
        self._owns_client = client is None
        self._lock = threading.RLock()
        self._exchanges: list[_Exchange] = []
        self._current: _Exchange | None = None
        self._last: _Exchange | None = None
        self._restored: tuple[str, list[dict]] | None = None
        self._stream: ResponseStream | None = None
        self._stop = threading.Event()
        self._attachments: list[tuple[dict, widgets.Widget]] = []
        self._sent_urls: set[str] = set()
        self._shared = _Shared()
        default_model = model or (client.settings.model if client is not None else Settings.load().model)
        self._build(default_model, system if system is not None else conversation.system or "")
        self._show_history()
        self._models_thread: threading.Thread | None = None
        if models is not None:
            self.set_models(models)
        else:
            self._models_thread = threading.Thread(
                target=self.refresh_models, name="grok-panel-models", daemon=True)
            self._models_thread.start()

    # -- widgets -----------------------------------------------------------------------------
    def _build(self, model: str, system: str) -> None:
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
        self.system_box = widgets.Textarea(
            value=system, placeholder="System prompt (optional)", rows=1,
            layout=widgets.Layout(width="100%"),
            _dom_classes=("grok-system",),
        )
        # The turns, inside a scroll box laid out bottom-up so that it stays scrolled to the end
        # as answers arrive (ipywidgets has no scrolling API).
        self.transcript = widgets.VBox([], _dom_classes=("grok-turns",))
        scroller = widgets.VBox([self.transcript], _dom_classes=("grok-transcript",))
        self.error_box = widgets.HTML(layout=widgets.Layout(display="none"),
                                      _dom_classes=("grok-error",))
        self.attachments = widgets.HBox([], _dom_classes=("grok-attachments",))
        # Enter sends, Shift+Enter is a new line (a small front-end widget: ipywidgets' Textarea
        # reports no keys). Its text syncs on blur and travels with each Enter, so neither a
        # click on Send nor Enter can overtake what was typed.
        self.input = ChatInput(
            placeholder="Ask Grok… (Enter sends, Shift+Enter for a new line)", rows=3,
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
            _dom_classes=("grok-input",),
        )
        self.input.on_submit(lambda _input: self._on_send())
        self.send_button = widgets.Button(
            description="Send", icon="paper-plane", button_style="primary",
            _dom_classes=("grok-send",),
        )
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", disabled=True, _dom_classes=("grok-stop",),
            tooltip="Stop the answer; the partial text stays",
        )
        self.upload = widgets.FileUpload(
            accept=UPLOAD_ACCEPT, multiple=True, description="Image", _dom_classes=("grok-upload",),
        )
        self.totals_view = widgets.HTML(
            _html_text("No answers yet.", "grok-totals-text"), _dom_classes=("grok-totals",),
        )

        self.send_button.on_click(self._on_send)
        self.stop_button.on_click(lambda _button: self.stop())
        self.new_button.on_click(lambda _button: self.new_chat())
        self.retry_button.on_click(self._on_retry)
        self.upload.observe(self._on_upload, names="value")

        buttons = widgets.VBox([self.send_button, self.stop_button, self.upload],
                               layout=widgets.Layout(width="auto"))
        self.widget = widgets.VBox([
            widgets.HTML(PANEL_CSS),
            widgets.HBox([self.model_picker, self.new_button, self.retry_button]),
            self.system_box,
            scroller,
            self.error_box,
            self.attachments,
            widgets.HBox([self.input, buttons]),
            self.totals_view,
        ])
        self.widget.add_class("grok-panel")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"<ChatPanel model={self.model!r}: {self.conversation.turns} turns, {self.answers} answers>"

    def _show_history(self) -> None:
        """The conversation's earlier turns (e.g. from %%grok cells), without usage."""
        views = []
        for message in self.conversation.messages:
            if message["role"] == "user":
                text, parts = _turn_parts(message)
                self._sent_urls |= _sent_urls(parts)
                views.append(UserView(text, parts, self._shared).box)
            elif message["role"] == "assistant":
                answer = AnswerView(self._sent_urls, shared=self._shared)
                answer.text = message.get("content") or ""
                answer.finish()
                views.append(answer.box)
        self.transcript.children = tuple(views)

    # -- properties --------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self.model_picker.value

    @model.setter
    def model(self, value: str) -> None:
        if value not in self.model_picker.options:
            self.model_picker.options = (value, *self.model_picker.options)
        self.model_picker.value = value

    @property
    def system(self) -> str:
        return self.system_box.value

    @system.setter
    def system(self, value: str | None) -> None:
        self.system_box.value = value or ""

    @property
    def busy(self) -> bool:
        """True while an answer is being fetched or streamed."""
        return self._current is not None

    @property
    def client(self) -> GrokClient:
        """The client; by default created at first use from the environment (and again while it
        has no key, so a key set later is picked up)."""
        with self._lock:
            if self._client is None or (self._owns_client and not self._client.settings.has_key):
                self._client = GrokClient(Settings.load())
            return self._client

    # -- models ------------------------------------------------------------------------------
    def set_models(self, ids: Sequence[str]) -> None:
        """Offer these model ids in the picker, keeping the current choice."""
        current = self.model_picker.value
        options = [current, *(i for i in ids if i != current)]
        with self.model_picker.hold_trait_notifications():
            self.model_picker.options = options
            self.model_picker.value = current

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

    # -- attachments -------------------------------------------------------------------------
    def image_part(self, source: object) -> dict:
        """An image (bytes, PIL image, path, URL, …) as a content part, via the images module."""
        if isinstance(source, Mapping) and source.get("type") == "image_url":
            return dict(source)
        from grok_magic.images import to_image_part

        return to_image_part(source, detail=self.detail, max_side=self.max_image_side)

    def attach(self, source: object, name: str | None = None) -> dict:
        """Add an image to the next message (shown as a removable thumbnail)."""
        part = self.image_part(source)
        image = thumbnail(part)
        remove = widgets.Button(description="✕", tooltip=f"Remove {name or 'this image'}",
                                layout=widgets.Layout(width="auto"))
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

    def _set_attachments(self, parts: Sequence[dict]) -> None:
        self._attachments = []
        for part in parts:
            self.attach(part)
        self._sync_attachments()

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
                self._show_error(err)

    # -- sending -----------------------------------------------------------------------------
    def send(self, text: str = "", images: Iterable = ()) -> Response:
        """Send one turn, wait for the whole answer (shown streaming in the panel) and return it.

        Failures are shown in the panel and raised; Stop (or a kernel interrupt, which raises
        InterruptedByUser) keeps the partial answer.
        """
        try:
            parts = [self.image_part(image) for image in images]
        except GrokError as err:
            self._show_error(err)
            raise
        exchange = self._begin(text, parts, from_input=False, blocking=True)
        return self._wait_for(exchange)

    def retry(self) -> Response:
        """Ask the last question again, replacing its answer; wait for the new one."""
        return self._wait_for(self._begin_retry(blocking=True))

    def wait(self, timeout: float | None = None) -> Response | None:
        """Wait for the answer in flight (if any) and return it; errors stay in `self.error`."""
        exchange = self._current or self._last
        if exchange is None:
            return None
        exchange.done.wait(timeout)
        return exchange.response

    def stop(self) -> None:
        """Stop the answer in flight; its partial text stays, marked as stopped."""
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        self.stop_button.disabled = True

    def new_chat(self) -> None:
        """Forget the turns and clear the transcript (token totals stay)."""
        if self.busy:
            self.stop()
            self.wait()
        self.conversation.reset()
        with self._lock:
            self._exchanges.clear()
            self._last = None
            self.transcript.children = ()
        self.retry_button.disabled = True
        self._clear_error()

    def _on_send(self, _button=None) -> None:
        if self.busy:
            return  # a second click before the button was disabled in the browser
        try:
            self._begin(self.input.value, self.pending_images, from_input=True, blocking=False)
        except GrokError as err:
            self._show_error(err)

    def _on_retry(self, _button=None) -> None:
        if self.busy:
            return
        try:
            self._begin_retry(blocking=False)
        except GrokError as err:
            self._show_error(err)

    def _begin_retry(self, *, blocking: bool) -> _Exchange:
        last = self._last
        if last is None:
            raise InputError("there is no question to ask again", hint="Send one first.")
        if self.busy:
            raise InputError("an answer is still streaming", hint="Wait for it, or press Stop.")
        with self._lock:
            if last in self._exchanges:
                self._exchanges.remove(last)
                self.transcript.children = tuple(
                    c for c in self.transcript.children if all(c is not b for b in last.boxes))
            response = last.response
            messages = self.conversation.messages
            if (response is not None and response.complete and len(messages) >= 2
                    and messages[-2:] == [last.user_turn, response.assistant_message()]):
                del messages[-2:]
            if self._restored is not None and self.input.value == self._restored[0]:
                self.input.value = ""
                self._set_attachments([])
        return self._begin(last.text, last.parts, from_input=last.from_input, blocking=blocking)

    def _begin(self, text: str, parts: list[dict], *, from_input: bool, blocking: bool) -> _Exchange:
        """Show the user turn and start the worker that streams the answer."""
        user_turn = user_message([text, *parts])
        if not user_turn["content"]:
            raise InputError("there is nothing to send", hint="Type a question or attach an image.")
        with self._lock:
            if self._current is not None:
                raise InputError("an answer is still streaming", hint="Wait for it, or press Stop.")
            self._sent_urls |= _sent_urls(parts)
            exchange = _Exchange(
                text=text, parts=list(parts), user_turn=user_turn, model=self.model,
                system=self.system, from_input=from_input, blocking=blocking,
                user_view=UserView(text, parts, self._shared),
                answer_view=AnswerView(self._sent_urls, shared=self._shared),
            )
            self._current = self._last = exchange
            self._stop.clear()
            self._exchanges.append(exchange)
            self.transcript.children = (*self.transcript.children, *exchange.boxes)
        self._clear_error()
        self._restored = None
        if from_input:
            self.input.value = ""
            self._set_attachments([])
        self._set_busy(True)
        # The copied context keeps the kernel's parent message, so updates reach this cell.
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(self._run, exchange),
                                  name="grok-panel-answer", daemon=True)
        thread.start()
        return exchange

    def _set_busy(self, busy: bool) -> None:
        self.send_button.disabled = busy
        self.stop_button.disabled = not busy
        self.new_button.disabled = busy
        self.retry_button.disabled = busy or self._last is None

    def _wait_for(self, exchange: _Exchange) -> Response:
        try:
            while not exchange.done.wait(WAIT_POLL):
                pass
        except KeyboardInterrupt:  # the kernel's interrupt: the Stop of a blocking send()
            self.stop()
            exchange.done.wait()
            raise InterruptedByUser(response=exchange.response) from None
        if exchange.error is not None:
            raise exchange.error
        assert exchange.response is not None
        return exchange.response

    # -- the worker thread: only widget values and Output.outputs are set here ---------------
    def _run(self, exchange: _Exchange) -> None:
        view = exchange.answer_view
        try:
            stream = self.conversation.stream(
                self.client, exchange.user_turn, exchange.model, system=exchange.system)
            with self._lock:
                self._stream = stream
            if self._stop.is_set():
                stream.close()
            for delta in stream:
                view.feed(delta.content, delta.reasoning)
            exchange.response = stream.response
        except GrokError as err:
            exchange.error = err
            exchange.response = getattr(err, "response", None)
        except BaseException as exc:  # a bug: shown in the panel, re-raised below
            exchange.error = exc
        finally:
            with self._lock:
                self._stream = None
            try:
                self._settle(exchange)
            finally:
                with self._lock:
                    self._current = None
                self._set_busy(False)
                exchange.done.set()
        if exchange.error is not None and not isinstance(exchange.error, GrokError) \
                and not exchange.blocking:
            raise exchange.error  # reported by threading.excepthook

    def _settle(self, exchange: _Exchange) -> None:
        """Record the answer, mark how it ended, show usage or the error."""
        response, error, view = exchange.response, exchange.error, exchange.answer_view
        if response is not None:
            self.conversation.record(exchange.user_turn, response)
            self.answers += 1
            if response.usage is not None:
                self.totals = self.totals + response.usage
            if response.cost is not None:
                self.total_cost += response.cost
            if response.stopped:
                view.finish("Stopped — the partial answer is kept (not added to the history).",
                            "grok-stopped")
            elif error is not None:
                title = error.title if isinstance(error, GrokError) else type(error).__name__
                view.finish(f"Incomplete answer — {title}.", "grok-incomplete")
            else:
                view.finish()
            if response.reasoning:
                view.add_reasoning(response.reasoning)
            view.add_usage(UsageDisplay(response, self.totals, self.total_cost).widget)
            self._show_totals()
        if error is None:
            return
        self._show_error(error)
        if response is None or not response.text:
            with self._lock:  # nothing arrived: the question goes back to the input instead
                if exchange in self._exchanges:
                    self._exchanges.remove(exchange)
                self.transcript.children = tuple(
                    c for c in self.transcript.children if all(c is not b for b in exchange.boxes))
        if exchange.from_input and not self.input.value.strip() and not self._attachments:
            self.input.value = exchange.text
            self._set_attachments(exchange.parts)
            self._restored = (exchange.text, exchange.parts)

    # -- messages ----------------------------------------------------------------------------
    def _show_error(self, error: BaseException) -> None:
        self.error = error
        if isinstance(error, GrokError):
            text = error.paragraph()
        else:
            text = f"Unexpected error ({type(error).__name__}: {error}). This is a bug in grok_magic."
        self.error_box.value = f"<p class='grok-error-text'>{html.escape(text)}</p>"
        _show(self.error_box, True)

    def _clear_error(self) -> None:
        self.error = None
        self.error_box.value = ""
        _show(self.error_box, False)

    def _show_totals(self) -> None:
        t = self.totals
        text = (f"Panel total: {self.answers:,} answer{'s' if self.answers != 1 else ''} · "
                f"{t.total_tokens:,} tokens (prompt {t.prompt_tokens:,}, completion "
                f"{t.completion_tokens:,}, reasoning {t.reasoning_tokens:,}) · "
                f"{format_cost(self.total_cost)}")
        self.totals_view.value = _html_text(text, "grok-totals-text")

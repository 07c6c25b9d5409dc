"""Front: ChatPanel — the view of a ChatSession: streaming answers, images, Stop, usage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ipywidgets as widgets

from grok_magic.ask import Ask
from grok_magic.chat import ChatSession, Exchange
from grok_magic.conversation import Conversation
from grok_magic.errors import GrokError, InputError
from grok_magic.inputs.images import DEFAULT_MAX_IMAGE_SIDE
from grok_magic.inputs.prompt import build_user_turn
from grok_magic.notebook.answer_view import ServedNotes, Ticker
from grok_magic.notebook.display import UsageDisplay
from grok_magic.notebook.panel_imagine import PanelImagine
from grok_magic.notebook.panel_views import (
    AnswerView,
    ExchangeViews,
    PanelControls,
    Shared,
    UserView,
    history_views,
    html_text,
    remove_boxes,
)
from grok_magic.notebook.tools import panel_tools
from grok_magic.settings import Settings
from grok_magic.xai.client import GrokClient
from grok_magic.xai.pricing import format_cost
from grok_magic.xai.response import Response, Usage
from grok_magic.xai.streams import Delta


class ChatPanel(PanelControls):
    """A chat with Grok in a notebook: transcript, input, image attachments, model picker,
    system prompt, Stop, Retry, New chat, and token usage after each answer.

    Display it (`display(panel)`, or make it a cell's last value); or script it::

        panel = ChatPanel(system="Answer briefly.")
        panel                                   # shows the panel
        response = panel.send("What is a p-value?", images=["chart.png"])
        panel.conversation.messages             # the turns so far (shared with %%grok via %grok chat)

    The input is a multi-line box: Enter sends (as does the Send button), Shift+Enter starts a
    new line. Each answer streams in a worker thread (a `ChatSession`), so Stop works while it runs.
    With the Imagine toggle on, Send makes an image instead (`panel.imagine(text, images)` from a
    script): the attached images are its references; it never joins the chat's history.
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
        max_image_side: int = DEFAULT_MAX_IMAGE_SIDE,
        api: str = "responses",
        store: bool = False,
        cache: bool = True,
        served_notes: ServedNotes | None = None,
        image_model: str | None = None, image_format: str = "url",
        downloader=None, save_folder=None,
    ) -> None:
        import threading

        if conversation is None:
            conversation = Conversation(system=system)
        self.detail = detail
        self.max_image_side = max_image_side
        self.api, self.store, self.cache = api, store, cache  # as GrokMagics.api, .store, .cache
        self.served_notes = served_notes or ServedNotes()  # the kernel's, from %grok chat
        self.error: BaseException | None = None
        self._client = client
        self._owns_client = client is None
        self._client_lock = threading.Lock()
        self.session = ChatSession(conversation, lambda: self.client, self)
        self._restored: tuple[str, list[dict]] | None = None
        self._attachments: list[tuple[dict, widgets.Widget]] = []
        self._sent_urls: set[str] = set()
        self.shared = Shared()
        self.last_failed = False  # whether the last send (an answer or an image) failed
        self.imaginer = PanelImagine(self, image_model, image_format, downloader, save_folder)
        default_model = model or (client.settings.model if client is not None else Settings.load().model)
        self.build_view(default_model, system if system is not None else conversation.system or "")
        self._show_history()
        self.waiting = WaitingMessage(self)
        if self.conversation.answers:
            self.show_totals()
        self._models_thread: threading.Thread | None = None
        if models is not None:
            self.set_models(models)
        else:
            self._models_thread = threading.Thread(
                target=self.refresh_models, name="grok-panel-models", daemon=True)
            self._models_thread.start()

    def __repr__(self) -> str:
        return f"<ChatPanel model={self.model!r}: {self.conversation.turns} turns, {self.answers} answers>"

    def _show_history(self) -> None:
        """The conversation's earlier turns (e.g. from %%grok cells), without usage."""
        self.transcript.children = history_views(self.conversation.messages, self._sent_urls,
                                                 self.shared)

    # -- state -----------------------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        return self.session.conversation

    @property
    def totals(self) -> Usage:
        return self.session.totals.usage

    @property
    def total_cost(self) -> float:
        return self.session.totals.cost

    @property
    def answers(self) -> int:
        return self.session.totals.answers

    @property
    def busy(self) -> bool:
        """True while an answer is being fetched or streamed, or an image made."""
        return self.session.busy or self.imaginer.busy

    @property
    def _last(self) -> Exchange | None:
        return self.session.last

    @property
    def client(self) -> GrokClient:
        """The client; by default created at first use from the environment (and again while it
        has no key, so a key set later is picked up)."""
        with self._client_lock:
            if self._client is None or (self._owns_client and not self._client.settings.has_key):
                self._client = GrokClient(Settings.load())
            return self._client

    # -- sending -------------------------------------------------------------------------------
    def send(self, text: str = "", images: Iterable = ()) -> Response:
        """Send one turn, wait for the whole answer (shown streaming in the panel) and return it.

        Failures are shown in the panel and raised; Stop (or a kernel interrupt, which raises
        InterruptedByUser) keeps the partial answer.
        """
        try:
            parts = [self.image_part(image) for image in images]
        except GrokError as err:
            self.show_error(err)
            raise
        return self.session.wait_for(self.begin(text, parts, from_input=False, blocking=True))

    def imagine(self, text: str, images: Iterable = ()) -> Response:
        """Make an image of `text` with Grok Imagine (`images`: its references), as Send does
        with the Imagine toggle on; wait for it and return the ImageResponse."""
        return self.imaginer.send(text, images)

    def retry(self) -> Response:
        """Ask the last question again, replacing its answer; wait for the new one."""
        return self.session.wait_for(self._begin_retry(blocking=True))

    def wait(self, timeout: float | None = None) -> Response | None:
        """Wait for the answer (or image) in flight, if any, and return it; errors stay in
        `self.error`."""
        return (self.imaginer if self.imaginer.busy else self.session).wait(timeout)

    def stop(self) -> None:
        """Stop the answer in flight; its partial text stays, marked as stopped."""
        self.session.stop()
        self.stop_button.disabled = True

    def new_chat(self) -> None:
        """Forget the turns and clear the transcript (token totals stay); its widgets are closed."""
        self.session.new_chat()
        views, self.transcript.children = self.transcript.children, ()
        for view in views:
            self.shared.close(view)
        self.retry_button.disabled = True
        self.clear_error()

    def handle_send(self, _button=None) -> None:
        if self.busy:
            self.waiting.take()  # Enter while an answer streams: the message waits, says so
            return
        try:
            self.start(self.input.value, self.pending_images)
        except GrokError as err:
            self.show_error(err)

    def start(self, text: str, parts: list[dict]) -> None:
        """Send what was typed: an image while the Imagine toggle is on, else a chat turn."""
        send = self.imaginer.begin if self.imagine_toggle.value else self.begin
        send(text, parts, from_input=True, blocking=False)

    def show_totals(self) -> None:
        self.totals_view.value = html_text(
            totals_line(self.session.totals, self.conversation.tally), "grok-totals-text")

    def handle_retry(self, _button=None) -> None:
        if self.busy:
            return
        try:
            self._begin_retry(blocking=False)
        except GrokError as err:
            self.show_error(err)

    def _begin_retry(self, *, blocking: bool) -> Exchange:
        last = self.session.take_last_for_retry()
        remove_views(self.transcript, last)
        if self._restored is not None and self.input.value == self._restored[0]:
            self.input.value = ""
            self.set_attachments([])
        return self.begin(last.text, last.parts, from_input=last.from_input, blocking=blocking)

    def begin(self, text: str, parts: list[dict], *, from_input: bool, blocking: bool) -> Exchange:
        """Build the question from what is in the panel now and hand it to the session."""
        if self.imaginer.busy:
            raise InputError("an image is still being made", hint="Wait for it.")
        # The one user-turn builder: inline images in the typed text, then the attachments.
        ask = Ask(build_user_turn(text, {}, images=parts), self.model, system=self.system,
                  source="panel", server_tools=panel_tools(self.search_toggle.value),
                  api=self.api, store=self.store, cache=self.cache)
        exchange = Exchange(text=text, parts=list(parts), ask=ask, from_input=from_input,
                            blocking=blocking)
        return self.session.begin(exchange)

    # -- the session's listener (delta and settled run on the worker thread) --------------------
    def started(self, exchange: Exchange) -> None:
        # Before the worker starts: an answer failing at once must not have its error undone.
        self.clear_error()
        self._restored = None
        if exchange.from_input:
            self.input.value = ""
            self.set_attachments([])
        self._sent_urls |= exchange.ask.sent_urls
        exchange.view = ExchangeViews(UserView(exchange.text, exchange.parts, self.shared),
                                      AnswerView(set(self._sent_urls), shared=self.shared))
        self.transcript.children = (*self.transcript.children, *exchange.view.boxes)
        Ticker(exchange.view.answer.stream).start()  # ends once text arrives or the answer ends

    def delta(self, exchange: Exchange, delta: Delta) -> None:
        exchange.view.answer.take(delta)

    def busy_changed(self, busy: bool) -> None:
        self.send_button.disabled = busy
        self.stop_button.disabled = not self.session.busy  # an image cannot be stopped
        self.new_button.disabled = busy
        self.retry_button.disabled = busy or self.session.last is None
        if not busy:
            self.waiting.release()

    def settled(self, exchange: Exchange) -> None:
        """Mark how the answer ended, show usage or the error; give back what was typed if
        nothing arrived."""
        response, error, view = exchange.response, exchange.error, exchange.view.answer
        self.last_failed = error is not None and not (response is not None and response.stopped)
        if response is not None:
            if response.stopped:
                view.finish("Stopped — the partial answer is kept (not added to the history).",
                            "grok-stopped", response)
            elif error is not None:
                title = error.title if isinstance(error, GrokError) else type(error).__name__
                view.finish(f"Incomplete answer — {title}.", "grok-incomplete", response)
            else:
                view.finish(self.served_notes.note(response), "grok-served", response)
            limits = self.conversation.recorder.limits()
            view.add_usage(UsageDisplay.of(response, self.session.totals, False, limits).items_html)
            self.show_totals()
        if error is None:
            return
        self.show_error(error)
        if response is None or not response.text:
            self.session.forget(exchange)  # nothing arrived: the question goes back to the input
            remove_views(self.transcript, exchange)
        if exchange.from_input and not self.input.value.strip() and not self._attachments:
            self.input.value = exchange.text
            self.set_attachments(exchange.parts)
            self._restored = (exchange.text, exchange.parts)


class WaitingMessage:
    """A message typed (and its images) while an answer streams: taken from the box, said in
    the panel, and sent when that answer ends; nothing typed is ever lost."""

    def __init__(self, panel: ChatPanel) -> None:
        self.panel = panel
        self.held: tuple[str, list[dict]] | None = None

    def take(self) -> None:
        """Hold what is in the box now (one message at most)."""
        panel = self.panel
        text, parts = panel.input.value, panel.pending_images
        if not text.strip() and not parts:
            return  # a second click on Send before the browser disabled it
        if self.held is not None:
            panel.say_queued("One message is already waiting; this one stays in the box.")
            return
        self.held = (text, list(parts))
        panel.input.value = ""
        panel.set_attachments([])
        preview = " ".join(text.split())
        preview = preview if len(preview) <= 60 else preview[:59] + "…"
        panel.say_queued(f"Waiting: “{preview}” is sent when this answer ends (Stop ends it now).")

    def release(self) -> None:
        """The answer ended: send the held message, unless that answer failed (then it goes
        back in the box)."""
        if self.held is None:
            return
        panel, ((text, parts), self.held) = self.panel, (self.held, None)
        panel.say_queued("")
        if panel.last_failed:
            typed = panel.input.value.rstrip()
            panel.input.value = f"{typed}\n\n{text}" if typed else text
            panel.set_attachments([*panel.pending_images, *parts])
            panel.say_queued("Your waiting message was not sent, since the answer before it "
                             "failed: it is back in the box.")
            return
        typed, attached = panel.input.value, panel.pending_images  # typed since: kept there
        try:
            panel.start(text, parts)
            panel.input.value = typed
            panel.set_attachments(attached)
        except GrokError as err:
            panel.input.value = text
            panel.set_attachments(parts)
            panel.show_error(err)


def remove_views(transcript: widgets.Box, exchange: Exchange) -> None:
    """Take an exchange's views off the transcript and close their widgets."""
    if exchange.view is not None:
        remove_boxes(transcript, exchange.view.boxes, exchange.view.answer.shared)


def totals_line(panel, shared) -> str:
    """The panel's totals (a `response.Totals`) and, when its conversation is shared with cells
    (`%grok chat`) and they answered too, the conversation's: cells and panel together."""
    line = tally_text(panel) if panel.answers else "No answers in the panel yet."
    if shared.answers > panel.answers:
        line += "\n" + tally_text(shared, "With the cells of this conversation")
    return line


def tally_text(tally, label: str = "Panel total") -> str:
    """`totals_text` of a `response.Totals`."""
    return totals_text(tally.usage, tally.answers, tally.cost, tally.estimated, saved=tally.saved,
                       listed=tally.listed, label=label)


def totals_text(t: Usage, answers: int, cost: float, estimated: int = 0, *, saved: float = 0.0,
                listed: int = 0, label: str = "Panel total") -> str:
    """The panel's running totals line; "≈" where `estimated` answers were priced by estimate
    (or `listed` ones from a price list); what prompt caching `saved`, when it saved anything."""
    guess = "≈ " if estimated else ""
    return (f"{label}: {answers:,} answer{'s' if answers != 1 else ''} · "
            f"{guess}{t.total_tokens:,} tokens (prompt {t.prompt_tokens:,}, completion "
            f"{t.completion_tokens:,}, reasoning {t.reasoning_tokens:,}) · "
            f"{format_cost(cost, estimate=bool(estimated or listed))}"
            + (f" ({estimated:,} estimated)" if estimated else "")
            + (f" · caching saved {format_cost(saved, estimate=True)}" if saved > 0 else ""))

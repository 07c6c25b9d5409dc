"""Front: the chat panel's Imagine toggle. While it is on, a message is a prompt for Grok Imagine
and the images attached to it are its references: the same `Imagine` request, budget, ledger,
media folder and replay as `%%grok --imagine` (`ledger.imagery.make_images`), on a worker thread.
The image shows in the transcript as the bytes the kernel fetched (never xAI's address), with
the revised prompt as text, the cost, Copy image and Save. It never joins the chat's history.
"""

from __future__ import annotations

import contextvars
import html
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets

from grok_magic.errors import GrokError, InputError
from grok_magic.notebook.display import SPINNER
from grok_magic.notebook.panel_views import Shared, UserView, html_text, remove_boxes, show

if TYPE_CHECKING:
    from grok_magic.imagine import Imagine
    from grok_magic.xai.downloads import Downloader
    from grok_magic.xai.imagine import ImageResponse, Picture

SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
COPY_HINT = ("Shift+right-click the image and choose “Copy image” (a plain right-click opens "
             "JupyterLab's own menu).")


def save_image(data: bytes, media_type: str | None, folder: Path) -> tuple[Path, bool]:
    """Write `data` to `folder`/grok-image-<sha8>.<ext> and return (path, written). Nothing is
    ever overwritten: the same bytes already there are that file (written False); another
    file of that name makes it grok-image-<sha8>-2.<ext>, and so on."""
    import hashlib

    stem = f"grok-image-{hashlib.sha256(data).hexdigest()[:8]}"
    suffix = SUFFIXES.get(media_type or "", ".img")
    for n in range(1, 1000):
        path = folder / f"{stem}{'' if n == 1 else f'-{n}'}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if path.is_file() and path.read_bytes() == data:
                return path, False
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return path, True
    raise FileExistsError(f"{folder / stem}-*{suffix}")


class ImagineView:
    """A made image in the transcript: the image (our Output of its bytes), the revised prompt
    as escaped text, the cost line, and Copy image / Save for it."""

    def __init__(self, shared: Shared, folder: Path | None = None, on_error=None) -> None:
        self.shared = shared
        self.folder = folder
        self.on_error = on_error
        self.picture: Picture | None = None
        self.image = widgets.Output(layout=shared.layout, _dom_classes=("grok-imagined-image",))
        self.note = shared.html(SPINNER + html_text("Grok Imagine is making an image…",
                                                    "grok-note-text"), "grok-note")
        self.note.add_class("grok-imagine-note")
        self.copy_button = self._button("Copy image", "copy", "grok-copy-image",
                                        "How to copy this image (no script: the browser copies it)")
        self.save_button = self._button("Save", "save", "grok-save-image",
                                        "Write this image to a file beside the notebook")
        # its own layout, hidden until asked for (the shared one must never be hidden)
        self.copy_hint = widgets.HTML(html_text(COPY_HINT, "grok-note-text"),
                                      layout=widgets.Layout(display="none"),
                                      _dom_classes=("grok-copy-hint", "grok-note"))
        self.saved = widgets.HTML(_dom_classes=("grok-saved", "grok-note"))
        self.copy_button.on_click(lambda _b: show(self.copy_hint,
                                                  self.copy_hint.layout.display == "none"))
        self.save_button.on_click(lambda _b: self.save())
        self.extras = shared.vbox()
        self.box = shared.vbox([shared.html(html_text("Grok Imagine", "grok-who")), self.image,
                                self.note, widgets.HBox([self.copy_button, self.save_button]),
                                self.copy_hint, self.saved, self.extras], "grok-answer")
        self.box.add_class("grok-imagined")

    def _button(self, description: str, icon: str, css_class: str, tooltip: str) -> widgets.Button:
        return widgets.Button(description=description, icon=icon, disabled=True, tooltip=tooltip,
                              layout=self.shared.button_layout, style=self.shared.button_style,
                              _dom_classes=(css_class,))

    def show(self, response: ImageResponse, usage_html: str) -> None:
        """The image that arrived, its revised prompt and the cost line."""
        from grok_magic.notebook.imagine_view import picture_bundles

        images, lines = picture_bundles(response.pictures)
        self.image.outputs = tuple({"output_type": "display_data", "data": bundle,
                                    "metadata": metadata} for bundle, metadata in images)
        arrived = [p for p in response.pictures if p.data is not None]
        self.picture = arrived[0] if arrived else None
        self.note.value = "".join(f"<p class='grok-revised'>{html.escape(line)}</p>"
                                  for line in lines)  # xAI's words: text, never markup
        self.copy_button.disabled = self.save_button.disabled = self.picture is None
        self.extras.children = (self.shared.html(usage_html, "grok-usage"),)

    def save(self) -> Path | None:
        """Write the image beside the notebook (the kernel's folder) and say where."""
        if self.picture is None:
            return None
        folder = self.folder or Path.cwd()
        try:
            path, written = save_image(self.picture.data, self.picture.media_type, folder)
        except OSError as err:
            if self.on_error is not None:
                self.on_error(InputError(f"the image could not be saved in {folder}: "
                                         f"{err.strerror or err}",
                                         hint="Check that the folder exists and is writable."))
            return None
        said = "Saved as" if written else "Already saved as"
        self.saved.value = html_text(f"{said} {path}", "grok-note-text")
        return path


@dataclass(eq=False)
class ImagineTurn:
    """One message sent to Grok Imagine from the panel, and how it ended."""

    text: str
    parts: list[dict]
    request: Imagine
    from_input: bool
    blocking: bool = False
    views: tuple = ()
    response: ImageResponse | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class PanelImagine:
    """The panel's Imagine sends: one at a time, each on a worker thread (the kernel stays free
    for the widgets), recorded like a cell's, shown in the panel's transcript."""

    def __init__(self, panel, model: str | None = None, response_format: str = "url",
                 downloader: Downloader | None = None, folder: Path | None = None) -> None:
        self.panel = panel
        self.model = model
        self.response_format = response_format
        self.folder = folder
        self._downloader = downloader
        self.current: ImagineTurn | None = None
        self.last: ImagineTurn | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    @property
    def downloader(self) -> Downloader:
        if self._downloader is None:
            from grok_magic.xai.downloads import Downloader

            self._downloader = Downloader()
        return self._downloader

    def request(self, text: str, parts: list[dict]) -> Imagine:
        """The message as an Imagine request: its text the prompt, its images the references
        (built by the one user-turn builder, as a chat turn would be)."""
        from grok_magic.imagine import Imagine, split_turn
        from grok_magic.inputs.prompt import build_user_turn

        prompt, references = split_turn(build_user_turn(text, {}, images=parts))
        if not prompt.strip():
            raise InputError("there is nothing to make an image of",
                             hint="Type what the image should show; attached images are its "
                                  "references.")
        request = Imagine(prompt, model=self.model, references=references,
                          response_format=self.response_format, source="panel")
        request.body()  # what xAI would refuse is refused here, before anything changes
        return request

    def begin(self, text: str, parts: list[dict], *, from_input: bool,
              blocking: bool) -> ImagineTurn:
        """Check the message, show it in the transcript and make its image on a worker thread."""
        panel = self.panel
        if panel.busy:
            raise InputError("an answer is still streaming", hint="Wait for it, or press Stop.")
        turn = ImagineTurn(text, list(parts), self.request(text, parts), from_input, blocking)
        panel.clear_error()
        if from_input:
            panel.input.value = ""
            panel.set_attachments([])
        view = ImagineView(panel.shared, self.folder, panel.show_error)
        turn.views = (UserView(text, parts, panel.shared).box, view)
        panel.transcript.children = (*panel.transcript.children, turn.views[0], view.box)
        self.current = self.last = turn
        panel.busy_changed(True)
        context = contextvars.copy_context()  # updates reach the cell that shows the panel
        threading.Thread(target=context.run, args=(self._run, turn), name="grok-panel-imagine",
                         daemon=True).start()
        return turn

    def send(self, text: str, images=()) -> ImageResponse:
        """`panel.imagine`: make an image of `text` (`images` its references) and wait for it.
        Failures are shown in the panel and raised."""
        panel = self.panel
        try:
            parts = [panel.image_part(image) for image in images]
            turn = self.begin(text, parts, from_input=False, blocking=True)
        except GrokError as err:
            panel.show_error(err)
            raise
        return self.wait_for(turn)

    def wait(self, timeout: float | None = None) -> ImageResponse | None:
        """Wait for the image in flight (or the last one) and return its response."""
        turn = self.current or self.last
        if turn is None:
            return None
        turn.done.wait(timeout)
        return turn.response

    def wait_for(self, turn: ImagineTurn) -> ImageResponse:
        """Block until `turn` ends; its error is raised (after the panel showed it)."""
        turn.done.wait()
        if turn.error is not None:
            raise turn.error
        return turn.response

    def _run(self, turn: ImagineTurn) -> None:
        from grok_magic.ledger.imagery import make_images

        panel = self.panel
        recorder = panel.conversation.recorder
        try:
            turn.response = make_images(recorder, panel.client, turn.request, self.downloader)
        except GrokError as err:
            turn.error, turn.response = err, getattr(err, "response", None)
        except BaseException as exc:  # a bug: shown in the panel like any other
            turn.error = exc
        try:
            self._settled(turn)
        finally:
            self.current = None
            panel.busy_changed(False)
            turn.done.set()

    def _settled(self, turn: ImagineTurn) -> None:
        """Show what arrived and its cost; on an error, the panel's error line, and the message
        back in the box when nothing arrived."""
        from grok_magic.notebook.imagine_view import ImageUsage

        panel, view, response = self.panel, turn.views[1], turn.response
        panel.last_failed = turn.error is not None
        if response is not None and any(p.data is not None for p in response.pictures):
            recorder = panel.conversation.recorder
            usage = ImageUsage(response, recorder.tally, False, recorder.limits())
            view.show(response, usage.items_html)
            panel.session.totals.add(response)  # the panel's totals count its images too
            panel.show_totals()
        else:  # nothing to show: the message leaves the transcript
            remove_boxes(panel.transcript, (turn.views[0], view.box), panel.shared)
        if turn.error is None:
            return
        panel.show_error(turn.error)
        if turn.from_input and not panel.input.value.strip() and not panel.pending_images:
            panel.input.value = turn.text
            panel.set_attachments(turn.parts)


"""Front: `%%grok --imagine` — the cell as an `Imagine` request, the images it made shown as
image bytes the kernel fetched (never a remote URL), each with its revised prompt as text, and a
usage line ("2 images · $0.04").

Several images show side by side as one contact sheet (a JPEG the kernel draws from them, at
thumbnail size); each one, full size, is in `_grok.images` and `-o VAR`.
"""

from __future__ import annotations

import base64
import contextvars
import html
import io
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from IPython.display import display
from IPython.utils.text import dedent

from grok_magic.notebook.display import UsageDisplay, plain_twin, wrap
from grok_magic.xai.pricing import BUILTIN_SOURCE, EXACT_SOURCE, format_cost

if TYPE_CHECKING:
    from grok_magic.imagine import Imagine
    from grok_magic.notebook.options import GrokOptions
    from grok_magic.xai.imagine import ImageResponse, Picture

SHEET_TILE = 384  # px: the longest side of each image on a contact sheet
SHOWN_WIDTH = 640  # px: a single image is shown at most this wide (its bytes stay whole)
TICK = 0.5


def imagine_request(magics: GrokOptions, args, text: str, *, keys_found: list | None = None
                    ) -> Imagine:
    """The cell as an Imagine request: its text (with `{name}` values) the prompt, the images
    in it (`{img}`, `{fig}`, `-i photo.jpg`, Markdown images typed) the references."""
    from grok_magic.imagine import Imagine, split_turn
    from grok_magic.inputs.prompt import build_user_turn
    from grok_magic.notebook.cells import running_cell

    turn = build_user_turn(dedent(text), magics.user_ns, images=args.image,
                           max_side=magics.max_image_side, max_value_chars=magics.max_value_chars,
                           keys_found=keys_found)
    prompt, references = split_turn(turn)
    video = bool(getattr(args, "video", False))
    model = args.model or (magics.video_model if video else magics.image_model)
    return Imagine(prompt, model=model, count=args.count or 1, aspect=args.aspect,
                   resolution=args.resolution, references=references,
                   response_format=magics.image_format, video=video,
                   seconds=getattr(args, "duration", None), source="cell",
                   cell=running_cell(magics.shell), timeout=args.timeout)


def run_imagine(magics: GrokOptions, args, text: str):
    """`%%grok --imagine`: make (or replay) the images and show them."""
    from grok_magic.errors import GrokError
    from grok_magic.ledger.imagery import make_images
    from grok_magic.notebook.reports import DryRun

    if args.out is not None and not args.out.isidentifier():
        from IPython.core.error import UsageError

        raise UsageError(f"-o/--out takes a variable name; {args.out!r} is not one.")
    client = magics.client(args.timeout)  # settings loaded once: the key is registered now
    keys_found: list | None = [] if args.dry_run else None
    request = imagine_request(magics, args, text, keys_found=keys_found)
    body = request.body()
    if args.dry_run:
        cost = request.estimate(body)
        refs = len(request.references)
        note = (f"It would make {request.count} image{'s' if request.count > 1 else ''}"
                f"{f' from {refs} reference image(s)' if refs else ''}"
                f", {format_cost(cost, estimate=True)} by the built-in prices.")
        dry = DryRun(f"{client.settings.base_url}{request.endpoint}", body, note=note,
                     refused=keys_found[0] if keys_found else None)
        if args.out:
            magics.user_ns[args.out] = dry.body
        return display(dry)
    waiting = Waiting(f"Grok Imagine is making {request.count} image"
                      f"{'s' if request.count > 1 else ''}…")
    try:
        with waiting:
            response = make_images(magics.recorder, client, request, magics.downloader)
    except GrokError as err:
        response = getattr(err, "response", None)
        if response is not None:  # xAI made them, some could not be fetched: show the rest
            shown(magics, args, response)
        raise
    shown(magics, args, response)
    return None


def shown(magics: GrokOptions, args, response: ImageResponse) -> None:
    """Show `response`'s images and revised prompts, keep it in `_grok` (and `-o VAR`), then
    the usage line."""
    from grok_magic.notebook.options import RESULT_NAME

    show_pictures(response.pictures)
    magics.user_ns[RESULT_NAME] = response
    if args.out:
        images = response.images
        magics.user_ns[args.out] = images[0] if len(images) == 1 else images
    if magics.show_usage and not args.quiet:
        usage = ImageUsage(response, magics.recorder.tally, not magics.terminal,
                           magics.recorder.limits())
        if magics.terminal:
            print(usage.plain)
        else:
            magics.live_usage.show(usage)


# -- pictures ------------------------------------------------------------------------------------
def image_bundle(data: bytes, media_type: str, width: int | None) -> tuple[dict, dict]:
    """(bundle, metadata) showing image bytes: the data itself, never an address to load."""
    bundle = {media_type: base64.b64encode(data).decode("ascii"),
              "text/plain": f"<image {width or '?'} px wide>"}
    metadata = {media_type: {"width": min(width, SHOWN_WIDTH)}} if width else {}
    return bundle, metadata


def caption_bundle(lines: Sequence[str]) -> dict:
    """The revised prompts as text (the model's words: escaped, never rendered as markup)."""
    items = "".join(f"<p class='grok-note grok-revised'>{html.escape(line)}</p>" for line in lines)
    return {"text/html": wrap(f"<div class='grok-captions'>{items}</div>"),
            "text/plain": plain_twin("\n".join(lines))}


def sheet_bundle(images: Sequence, labels: Sequence[str] | None = None, *,
                 tile: int = SHEET_TILE, per_row: int = 4) -> tuple[dict, dict]:
    """(bundle, metadata) of PIL `images` shown side by side as one contact sheet."""
    data, width = contact_sheet(images, labels, tile=tile, per_row=per_row)
    return image_bundle(data, "image/jpeg", width)


def contact_sheet(images: Sequence, labels: Sequence[str] | None = None, *,
                  tile: int = SHEET_TILE, per_row: int = 4) -> tuple[bytes, int]:
    """PIL `images` side by side (a row of up to `per_row`, then the next row), each scaled to
    `tile` px and labelled under it (1, 2, … unless `labels` says); a JPEG, and its width."""
    from PIL import Image, ImageDraw

    labels = list(labels) if labels is not None else [str(i) for i in range(1, len(images) + 1)]
    tiles = []
    for image in images:
        image = image.convert("RGB")
        image.thumbnail((tile, tile))
        tiles.append(image)
    per_row = min(per_row, len(tiles))
    label, gap = 22, 8
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles) + label
    rows = -(-len(tiles) // per_row)
    sheet = Image.new("RGB", (per_row * cell_w + (per_row - 1) * gap,
                              rows * cell_h + (rows - 1) * gap), "white")
    draw = ImageDraw.Draw(sheet)
    for i, piece in enumerate(tiles):
        x, y = (i % per_row) * (cell_w + gap), (i // per_row) * (cell_h + gap)
        sheet.paste(piece, (x, y))
        draw.text((x + 4, y + piece.height + 4), labels[i], fill="black")
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=85)
    return out.getvalue(), sheet.width


def picture_bundles(pictures: Sequence[Picture]) -> tuple[list[tuple[dict, dict]], list[str]]:
    """What to show of `pictures` (the cell and the chat panel both show it): the (bundle,
    metadata) of one image as it came (its own bytes, JPEG or PNG), or of several as a numbered
    contact sheet; and the revised prompts as lines, numbered when there are several."""
    arrived = [p for p in pictures if p.data is not None]
    if not arrived:
        return [], []
    if len(arrived) == 1:
        picture = arrived[0]
        lines = [picture.revised_prompt] if picture.revised_prompt else []
        return [image_bundle(picture.data, picture.media_type, picture.width)], lines
    lines = [f"{i}. {p.revised_prompt}" for i, p in enumerate(arrived, 1) if p.revised_prompt]
    return [sheet_bundle([p.to_pil() for p in arrived])], lines


def show_pictures(pictures: Sequence[Picture]) -> None:
    """Display `picture_bundles(pictures)`: the image (or contact sheet), then the revised
    prompts as text."""
    images, lines = picture_bundles(pictures)
    for bundle, metadata in images:
        display(bundle, metadata=metadata, raw=True)
    if lines:
        display(caption_bundle(lines), raw=True)


# -- waiting and usage -----------------------------------------------------------------------------
class Waiting:
    """A line that counts the seconds while xAI makes the images (cleared when done)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.started = time.monotonic()
        self._done = threading.Event()
        self._handle = None
        self._thread: threading.Thread | None = None

    def _bundle(self) -> dict:
        line = f"{self.text} {time.monotonic() - self.started:.0f} s"
        return {"text/html": wrap(f"<p class='grok-thinking grok-note'>{html.escape(line)}</p>"),
                "text/plain": line}

    def _run(self) -> None:
        while not self._done.wait(TICK):
            self._handle.update(self._bundle(), raw=True)

    def __enter__(self) -> Waiting:
        self._handle = display(self._bundle(), raw=True, display_id=True)
        if self._handle is not None:
            context = contextvars.copy_context()
            self._thread = threading.Thread(target=context.run, args=(self._run,),
                                            name="grok-imagine-wait", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)


def imagine_cost_text(response: ImageResponse) -> str:
    """ "$0.0400 (exact, from xAI)", "≈ $0.0400 (estimated: 2 × built-in price …)", or the
    replay's "$0 (replayed …)"."""
    if response.replayed:
        return (f"$0 (replayed from the ledger; first made for "
                f"{format_cost(response.original_cost)})")
    cost = response.cost
    if response.cost_source == EXACT_SOURCE:
        return f"{format_cost(cost)} ({EXACT_SOURCE})"
    if cost is None:
        return "n/a (no price known for this model)"
    extra = f" and {response.references} reference image(s)" if response.references else ""
    return (f"{format_cost(cost, estimate=True)} (estimated: {response.summary()}{extra} at "
            f"{BUILTIN_SOURCE})")


class ImageUsage(UsageDisplay):
    """The usage line under made images: what was made, its cost, the session's totals."""

    def __init__(self, response: ImageResponse, tally, widget: bool = True,
                 limits: Sequence = ()) -> None:
        rows = [("made", response.summary()),
                ("model", response.model or response.requested_model or "?"),
                ("cost", imagine_cost_text(response)),
                ("session", format_cost(tally.cost, estimate=tally.approximate)),
                *[(limit.setting.replace("_", " "), limit.shown()) for limit in limits],
                ("time", f"{response.elapsed:.1f} s")]
        self.rows = [(k, plain_twin(str(v))) for k, v in rows]
        self.widget = self.make_widget() if widget else None

    @property
    def plain(self) -> str:
        return f"{self.rows[0][1]} · " + " · ".join(f"{k}: {v}" for k, v in self.rows[1:])

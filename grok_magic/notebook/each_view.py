"""Front: `%%grok --each VAR` — the run's live progress bar, its summary and first rows (model
text escaped), the dry-run plan, and the result stored in OUT and `_grok_each`."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.display import display

from grok_magic.notebook.batch_view import run_batch
from grok_magic.notebook.progress import ProgressBar
from grok_magic.notebook.reports import DryRun
from grok_magic.notebook.run_report import RESULT_NAME, EachReport, image_strip
from grok_magic.runs.each import Each, EachInterrupted, Plan
from grok_magic.xai.messages import ENDPOINTS
from grok_magic.xai.pricing import format_cost

if TYPE_CHECKING:
    from grok_magic.notebook.options import GrokOptions

GLOB_CHARS = set("*?[")
MAX_SHEET = 40  # pictures on the contact sheet after an --each --imagine run (all are in OUT)
LIVE_TILE, LIVE_COUNT = 128, 8  # px and count: the thumbnails shown while it runs


def data_of(magics: GrokOptions, name: str) -> tuple[object, str]:
    """What `--each NAME` goes over: the variable NAME, or NAME itself as a glob of files."""
    namespace = magics.user_ns
    if name.isidentifier() and name in namespace:
        return namespace[name], name
    if GLOB_CHARS & set(name) or "/" in name:
        return name, f"the pattern {name!r}"
    raise UsageError(f"--each {name}: there is no variable {name!r}. Name a list, dict, pandas "
                     "Series / Index / DataFrame, or give a glob of image files such as "
                     "--each \"photos/*.jpg\".")


def run_each(magics: GrokOptions, args, text: str, system: str | None):
    """`%%grok --each`: plan (dry run) or run, show progress and the result, store it."""
    if args.batch_api and not args.each:
        raise UsageError("--batch-api sends an --each run through xAI's Batch API: add "
                         "--each VAR.")
    if (args.image_col or args.root is not None) and not args.each:
        raise UsageError("--image-col and --root say which --each values are image files: add "
                         "--each VAR.")
    if args.to_cell or args.new:
        raise UsageError("--each sends every item as its own one-turn question: --to-cell and "
                         "--new do not apply to it.")
    data, name = data_of(magics, args.each)
    client = magics.client(args.timeout)
    imagine = imagine_options(magics, args)
    live = LiveSheet() if imagine is not None and not (args.quiet or magics.terminal) else None
    each = Each(
        text, data, namespace=magics.user_ns, client=client, recorder=magics.recorder,
        model=args.model or magics.model, system=system, images=args.image,
        detail=args.detail or magics.detail or None, temperature=args.temperature,
        max_tokens=args.max_tokens, reasoning_effort=args.reasoning_effort, json=args.json,
        schema=args.schema, timeout=args.timeout, concurrency=args.concurrency or magics.concurrency,
        max_retries=magics.max_retries, deadline=magics.deadline, max_side=magics.max_image_side,
        max_value_chars=magics.max_value_chars, resume=not args.fresh,
        name=name, image_cols=args.image_col, root=args.root, api=magics.api,
        cache=magics.cache, imagine=imagine,
        downloader=magics.downloader if imagine is not None else None,
        on_made=live.add if live is not None else None)
    if args.dry_run:
        plan = each.plan()
        if args.out:
            magics.user_ns[args.out] = plan  # first_body, count, low, high
        endpoint = ENDPOINTS[each.make_ask(0).api] if imagine is not None else ENDPOINTS["chat"]
        note = imagine_plan_note(plan) if imagine is not None else plan_note(plan)
        return display(DryRun(f"{client.settings.base_url}{endpoint}", plan.first_body,
                              note=note, refused=plan.refused))
    if magics.recorder.replay != "only":
        client.settings.require_secret()  # one clear message, rather than one per item
    if args.batch_api:
        return run_batch(magics, args, each)
    bar = ProgressBar(len(each.items), magics.terminal)
    if live is not None:
        live.start()
    try:
        result = each.run(bar.update if live is None else live.beside(bar.update))
    except EachInterrupted as stop:
        bar.close()
        if live is not None:
            live.close(stop.result)
        _store(magics, args, stop.result)
        display(EachReport(stop.summary, stop.result, args.out, each.items))
        raise
    bar.close()
    if live is not None:
        live.close(result)
    _store(magics, args, result)
    if not args.quiet:
        strip = image_strip(each.items)
        if strip is not None:
            display(strip, raw=True)
        if imagine is not None and live is None:
            display_made(result)
        display(EachReport(each.summary, result, args.out, each.items))
    return None


def imagine_options(magics: GrokOptions, args) -> dict | None:
    """`--each … --imagine`: what every item's Imagine request takes (None: a text run)."""
    if not args.imagine:
        return None
    return {"model": args.model or magics.image_model, "count": args.count or 1,
            "aspect": args.aspect, "resolution": args.resolution,
            "response_format": magics.image_format}


def made_sheet(result) -> tuple[dict, dict] | None:
    """(bundle, metadata): the pictures an `--each --imagine` run made, side by side, each
    labelled with its item's number (#1 is the first item); the first MAX_SHEET of them."""
    from grok_magic.notebook.imagine_view import sheet_bundle

    column = result["image"] if "image" in getattr(result, "columns", ()) else ()
    made = [(i, im[0] if isinstance(im, list) else im) for i, im in enumerate(column)]
    made = [(i, im) for i, im in made if im is not None and hasattr(im, "convert")]
    if not made:
        return None
    shown = made[:MAX_SHEET]
    return sheet_bundle([im for _, im in shown], [f"#{i + 1}" for i, _ in shown])


def display_made(result) -> None:
    sheet = made_sheet(result)
    if sheet is not None:
        display(sheet[0], metadata=sheet[1], raw=True)


class LiveSheet:
    """While an `--each --imagine` run goes: thumbnails of the latest pictures under the bar
    (made in the workers, shown from the loop that updates the bar); the run's contact sheet
    in their place when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thumbs: dict[int, object] = {}
        self._shown = 0  # pictures made when the display was last refreshed
        self._made = 0
        self._handle = None

    def start(self) -> None:
        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def add(self, position: int, response) -> None:
        """Item `position`'s pictures arrived (called from a worker thread)."""
        images = getattr(response, "images", None) or []
        if not images:
            return
        thumb = images[0].convert("RGB")
        thumb.thumbnail((LIVE_TILE, LIVE_TILE))
        with self._lock:
            self._thumbs[position] = thumb
            self._made += 1
            while len(self._thumbs) > LIVE_COUNT:  # the latest LIVE_COUNT only
                self._thumbs.pop(next(iter(self._thumbs)))

    def beside(self, on_progress):
        """`on_progress`, then the thumbnails refreshed when new ones came."""
        def update(progress) -> None:
            on_progress(progress)
            self.refresh()
        return update

    def refresh(self) -> None:
        from grok_magic.notebook.imagine_view import sheet_bundle

        with self._lock:
            if self._made == self._shown or not self._thumbs:
                return
            self._shown = self._made
            items = list(self._thumbs.items())
        bundle, metadata = sheet_bundle([t for _, t in items], [f"#{i + 1}" for i, _ in items],
                                        tile=LIVE_TILE, per_row=LIVE_COUNT)
        self._handle.update(bundle, metadata=metadata, raw=True)

    def close(self, result) -> None:
        """The run ended: its contact sheet (or nothing, when no picture was made) stays."""
        sheet = made_sheet(result)
        if sheet is None:
            self._handle.update({"text/plain": ""}, raw=True)
        else:
            self._handle.update(sheet[0], metadata=sheet[1], raw=True)


def imagine_plan_note(plan: Plan) -> str:
    cost = ("an unknown cost (no price for this model)" if plan.low is None else
            f"{format_cost(plan.low, estimate=True)} by the built-in prices")
    return f"{plan.count:,} requests like this one, one per item, for {cost}. This is the first."


def _store(magics: GrokOptions, args, result) -> None:
    magics.user_ns[RESULT_NAME] = result
    if args.out:
        magics.user_ns[args.out] = result


def plan_note(plan: Plan) -> str:
    cost = ("an unknown cost (no price for this model)" if plan.low is None else
            f"about {format_cost(plan.low)}–{format_cost(plan.high)}")
    return (f"{plan.count:,} requests like this one, one per item, for {cost}: the prompts "
            f"(estimated from {plan.estimated_from} of the items) plus answers of 1 to "
            f"{plan.answer_tokens:,} tokens each ({bound_note(plan.answer_bound)}), and any "
            f"reasoning the model does. This is the first.")


def bound_note(why: str) -> str:
    if why == "--max-tokens":
        return "--max-tokens bounds them"
    return f"{why}; --max-tokens bounds them"







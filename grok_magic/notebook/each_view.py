"""Front: `%%grok --each VAR` — the run's live progress bar, its summary and first rows (model
text escaped), the dry-run plan, and the result stored in OUT and `_grok_each`."""

from __future__ import annotations

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
        downloader=magics.downloader if imagine is not None else None)
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
    try:
        result = each.run(bar.update)
    except EachInterrupted as stop:
        bar.close()
        _store(magics, args, stop.result)
        display(EachReport(stop.summary, stop.result, args.out, each.items))
        raise
    bar.close()
    _store(magics, args, result)
    if not args.quiet:
        strip = image_strip(each.items)
        if strip is not None:
            display(strip, raw=True)
        if imagine is not None:
            show_made(result)
        display(EachReport(each.summary, result, args.out, each.items))
    return None


def imagine_options(magics: GrokOptions, args) -> dict | None:
    """`--each … --imagine`: what every item's Imagine request takes (None: a text run)."""
    if not args.imagine:
        return None
    return {"model": args.model or magics.image_model, "count": args.count or 1,
            "aspect": args.aspect, "resolution": args.resolution,
            "response_format": magics.image_format}


def show_made(result) -> None:
    """The pictures an `--each --imagine` run made, side by side (numbered by row)."""
    from grok_magic.notebook.imagine_view import sheet_bundle

    column = result["image"] if "image" in getattr(result, "columns", ()) else ()
    images = [im[0] if isinstance(im, list) else im for im in column]
    images = [im for im in images if im is not None and hasattr(im, "convert")]
    if images:
        bundle, metadata = sheet_bundle(images)
        display(bundle, metadata=metadata, raw=True)


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







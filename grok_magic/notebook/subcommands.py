"""Front: the `%grok` subcommands (settings, reset, history, usage, log, export, models, key, chat,
explain, fix), one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.display import display

from grok_magic.notebook.batch_view import batch, batches
from grok_magic.notebook.cells import split_options
from grok_magic.notebook.display import Report, cell
from grok_magic.notebook.reports import (
    ExchangeReport,
    HistoryReport,
    ledger_usage_report,
    log_report,
    models_report,
    settings_report,
    unreadable_report,
    usage_report,
)
from grok_magic.notebook.video_view import video
from grok_magic.safety.redaction import Secret

if TYPE_CHECKING:  # the magics import this table
    from grok_magic.notebook.options import GrokOptions

PANEL_NAME = "_grok_panel"


def settings(magics: GrokOptions, rest: str):
    current = magics.settings()
    key_state = f"set (from {current.key_source})" if current.has_key else (
        "missing — set XAI_API_KEY, add it to .env, or run %grok key")
    rows = [
        ("model", magics.model), ("base URL", current.base_url), ("API key", key_state),
        ("system prompt", magics.system or "(none)"),
        ("history", f"{magics.conversation.turns} turns kept, at most {magics.max_history}"),
        ("timeout", f"{magics.timeout:g} s"), ("retries", str(magics.max_retries)),
        ("limits of one answer", f"{magics.max_answer_chars:,} characters, {magics.deadline:g} s "
                                 f"in all, {magics.stall_timeout:g} s without progress"),
        ("image detail", magics.detail or "(xAI decides)"),
        ("max image side", f"{magics.max_image_side} px"),
        ("stream", str(magics.stream)), ("usage widget", str(magics.show_usage)),
        ("API", magics.api + (" (answers stored at xAI)" if magics.store else "")),
        ("ledger", ledger_state(magics)), ("replay", magics.replay),
        ("budget", "none" if magics.budget is None else f"${magics.budget:g} (this kernel)"),
        ("daily budget", "none" if magics.daily_budget is None else f"${magics.daily_budget:g}"),
    ]
    return display(settings_report(rows))


def reset(magics: GrokOptions, rest: str) -> None:
    magics.conversation.reset()
    print("New conversation: the history is empty.")


def history(magics: GrokOptions, rest: str):
    messages = magics.conversation.request_messages({"role": "user", "content": ""})[:-1]
    return display(HistoryReport(messages))


def ledger_state(magics: GrokOptions) -> str:
    ledger = magics.recorder.ledger
    if ledger is None:
        return "off"
    state = f"{ledger.path}" + (" (read-only)" if ledger.readonly or not ledger.writable else "")
    return state + (f" — unusable: {ledger.problem}" if ledger.problem else "")


def usage(magics: GrokOptions, rest: str):
    """`%grok usage`: this session; `--today`, `--week`, `--all`: every kernel, from the ledger;
    `--plot`: tokens and cost per cell of this session, or per day of the period given."""
    words = split_options(rest)
    periods = [w.removeprefix("--") for w in words if w in ("--today", "--week", "--all")]
    plot = "--plot" in words
    if len(periods) + plot != len(words) or len(periods) > 1:
        raise UsageError("%grok usage takes at most one of --today, --week or --all, and "
                         f"--plot to draw it (got {rest.strip()!r}).")
    if not periods and not plot:
        return display(usage_report(magics.recorder.tally, magics.recorder.limits()))
    from grok_magic.ledger.store import period_start

    ledger = _readable_ledger(magics)
    if ledger is None:
        return None
    if plot:
        try:
            import matplotlib  # noqa: F401 - an optional dependency, needed only here
        except ImportError:
            print("%grok usage --plot draws with matplotlib, which is not installed: pip "
                  "install matplotlib (or grok_magic[notebook]). Nothing was drawn.")
            return None
        return display(usage_plot(magics, ledger, periods[0] if periods else None))
    from grok_magic.xai.price_list import known_prices

    return display(ledger_usage_report(ledger.totals(since=period_start(periods[0])), periods[0],
                                       ledger.path, known_prices(ledger.path)))


def usage_plot(magics: GrokOptions, ledger, period: str | None):
    """What `%grok usage --plot` shows: a `UsagePlot` per cell (this session) or per day."""
    from grok_magic.ledger.store import period_start
    from grok_magic.notebook.usage_plot import UsagePlot, by_cell, by_day

    if period is None:
        points = by_cell(ledger.entries(session=magics.recorder.session))
        title = "Tokens and cost per cell, this session"
    else:
        points = by_day(ledger.entries(since=period_start(period)))
        title = "Tokens and cost per day, " + {"today": "today", "week": "the last 7 days",
                                                 "all": "all time"}[period]
    if not points:
        message = f"Nothing to plot: the ledger {ledger.path} holds no exchanges for it yet."
        return Report(f"*{cell(message)}*", message)
    return UsagePlot(points, title)


def log(magics: GrokOptions, rest: str):
    """`%grok log [N]`: the last N exchanges in the ledger (10 by default); `%grok log N
    --full`: exchange number N (the `#` the log shows) whole."""
    words = [w for w in rest.split() if w != "--full"]
    full = len(words) != len(rest.split())
    if len(words) > 1 or (words and not (words[0].isdigit() and int(words[0]) > 0)) or (
            full and not words):
        raise UsageError(f"%grok log takes how many exchanges to show, e.g. %grok log 20, or "
                         f"an exchange's number and --full, e.g. %grok log 7 --full "
                         f"(got {rest.strip()!r}).")
    ledger = _readable_ledger(magics)
    if ledger is None:
        return None
    if full:
        entry = ledger.entry(int(words[0]))
        if entry is None:
            message = (f"There is no exchange #{words[0]} in the ledger {ledger.path} "
                       "(%grok log shows their numbers).")
            return display(Report(f"*{cell(message)}*", message))
        return display(ExchangeReport(entry))
    entries = ledger.last(int(words[0]) if words else 10)
    return display(log_report(entries, ledger.count(), ledger.path))


def _readable_ledger(magics: GrokOptions):
    """The ledger, or None once it was said why there is none to read (off, or unreadable)."""
    ledger = _ledger_or_say(magics)
    if ledger is None:
        return None
    problem = ledger.readable()
    if problem is not None:
        display(unreadable_report(ledger.path, problem))
        return None
    return ledger


def export(magics: GrokOptions, rest: str) -> None:
    """`%grok export FILE [--session | --notebook] [--replace]`: a small ledger to share."""
    words = split_options(rest)
    flags = {w for w in words if w.startswith("--")}
    files = [w for w in words if not w.startswith("--")]
    if len(files) != 1 or flags - {"--session", "--notebook", "--replace"} or \
            {"--session", "--notebook"} <= flags:
        raise UsageError("Use %grok export FILE [--session | --notebook] [--replace]: one file "
                         f"name, and this session's exchanges (the default) or this notebook's "
                         f"(got {rest.strip()!r}).")
    ledger = _ledger_or_say(magics)
    if ledger is None:
        return
    recorder, destination = magics.recorder, files[0]
    if "--notebook" in flags:
        if not recorder.notebook:
            print("This kernel does not know its notebook's path (Jupyter sets JPY_SESSION_NAME; "
                  "it is not set here), so nothing was exported. Use --session instead.")
            return
        which, filters = f"notebook {recorder.notebook}", {"notebook": recorder.notebook}
    else:
        which, filters = "this session", {"session": recorder.session}
    from grok_magic.ledger.store import LedgerProblem

    try:
        count = ledger.export(destination, replace="--replace" in flags, **filters)
    except FileExistsError:
        print(f"{destination} already exists, so nothing was exported. Choose another name, or "
              "add --replace to overwrite it.")
        return
    except (OSError, ValueError, LedgerProblem) as err:
        print(f"Could not export to {destination}: {err}. Nothing was written.")
        return
    print(f"Exported {count} exchange{'s' if count != 1 else ''} of {which} to {destination}. "
          f'To replay them elsewhere (no key, no network): %config GrokMagics.ledger = '
          f'"{destination}" and %config GrokMagics.replay = "only".')


def _ledger_or_say(magics: GrokOptions):
    ledger = magics.recorder.ledger
    if ledger is None:
        print("The ledger is off (GROK_LEDGER=off or %config GrokMagics.ledger = \"off\"), so "
              "there is no history to show. Set %config GrokMagics.ledger = \"\" to use the "
              "default ledger.")
    return ledger


def models(magics: GrokOptions, rest: str):
    return display(models_report(magics.client().list_models(), magics.model))


def key(magics: GrokOptions, rest: str) -> None:
    import getpass

    typed = getpass.getpass("xAI API key (kept in memory for this session only): ").strip()
    if not typed:
        print("No key entered; nothing changed.")
        return
    magics.typed_key = Secret(typed)
    del typed
    print("Key stored in memory for this session.")


def chat(magics: GrokOptions, rest: str):
    from grok_magic.notebook.panel import ChatPanel

    panel = ChatPanel(
        model=magics.model, system=magics.system or None, conversation=magics.conversation,
        client=magics.client(), detail=magics.detail or None, max_image_side=magics.max_image_side,
        api=magics.api, store=magics.store, cache=magics.cache, served_notes=magics.served_notes,
        image_model=magics.image_model, image_format=magics.image_format,
        downloader=magics.downloader,
    )
    magics.user_ns[PANEL_NAME] = panel
    return panel  # shown as the cell's result; also `_grok_panel` for scripted demos










# `%grok NAME REST` calls SUBCOMMANDS[NAME](magics, REST); bare `%grok` shows the settings.
SUBCOMMANDS = {
    "reset": reset,
    "history": history,
    "usage": usage,
    "log": log,
    "export": export,
    "batches": batches,
    "batch": batch,
    "video": video,
    "models": models,
    "key": key,
    "chat": chat,
}

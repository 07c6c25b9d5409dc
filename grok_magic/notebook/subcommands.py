"""Front: the `%grok` subcommands (settings, reset, history, usage, models, key, chat), one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.display import display

from grok_magic.notebook.reports import HistoryReport, models_report, settings_report, usage_report
from grok_magic.redaction import Secret

if TYPE_CHECKING:
    from grok_magic.notebook.magics import GrokMagics

PANEL_NAME = "_grok_panel"


def settings(magics: GrokMagics, rest: str):
    current = magics.settings()
    key_state = f"set (from {current.key_source})" if current.has_key else (
        "missing — set XAI_API_KEY, add it to .env, or run %grok key")
    rows = [
        ("model", magics.model), ("base URL", current.base_url), ("API key", key_state),
        ("system prompt", magics.system or "(none)"),
        ("history", f"{magics.conversation.turns} turns kept, at most {magics.max_history}"),
        ("timeout", f"{magics.timeout:g} s"), ("retries", str(magics.max_retries)),
        ("image detail", magics.detail or "(xAI decides)"),
        ("max image side", f"{magics.max_image_side} px"),
        ("stream", str(magics.stream)), ("usage widget", str(magics.show_usage)),
    ]
    return display(settings_report(rows))


def reset(magics: GrokMagics, rest: str) -> None:
    magics.conversation.reset()
    print("New conversation: the history is empty.")


def history(magics: GrokMagics, rest: str):
    messages = magics.conversation.request_messages({"role": "user", "content": ""})[:-1]
    return display(HistoryReport(messages))


def usage(magics: GrokMagics, rest: str):
    return display(usage_report(magics.conversation.tally))


def models(magics: GrokMagics, rest: str):
    return display(models_report(magics.client().list_models(), magics.model))


def key(magics: GrokMagics, rest: str) -> None:
    import getpass

    typed = getpass.getpass("xAI API key (kept in memory for this session only): ").strip()
    if not typed:
        print("No key entered; nothing changed.")
        return
    magics.typed_key = Secret(typed)
    del typed
    print("Key stored in memory for this session.")


def chat(magics: GrokMagics, rest: str):
    from grok_magic.notebook.panel import ChatPanel

    panel = ChatPanel(
        model=magics.model, system=magics.system or None, conversation=magics.conversation,
        client=magics.client(), detail=magics.detail or None, max_image_side=magics.max_image_side,
    )
    magics.user_ns[PANEL_NAME] = panel
    return panel  # shown as the cell's result; also `_grok_panel` for scripted demos


# `%grok NAME REST` calls SUBCOMMANDS[NAME](magics, REST); bare `%grok` shows the settings.
SUBCOMMANDS = {
    "reset": reset,
    "history": history,
    "usage": usage,
    "models": models,
    "key": key,
    "chat": chat,
}

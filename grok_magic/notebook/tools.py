"""Front: a cell's choice of xAI API and its server-side tools (--search, --run-code)."""

from __future__ import annotations

import dataclasses

from grok_magic.ask import Ask

PANEL_SEARCH = "web,x"  # what the chat panel's Search toggle lets Grok search


def with_tools(ask: Ask, args, options) -> Ask:
    """`ask` with the configured API (GrokMagics.api, .store) and the cell's tools; a cell with
    tools goes to the Responses API whatever the default."""
    tools = []
    if getattr(args, "search", None):
        from grok_magic.xai.responses import search_tools

        tools += search_tools(args.search)
    if getattr(args, "run_code", False):
        from grok_magic.xai.responses import code_tool

        tools.append(code_tool())
    return dataclasses.replace(ask, api=options.api, server_tools=tuple(tools),
                               store=bool(options.store), cache=bool(options.cache))


def panel_tools(search: bool) -> tuple:
    """The chat panel's tools: web and X search while its Search toggle is on."""
    if not search:
        return ()
    from grok_magic.xai.responses import search_tools

    return tuple(search_tools(PANEL_SEARCH))

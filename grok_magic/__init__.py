"""grok_magic: chat with xAI's Grok from Jupyter (%%grok cells, a chat panel) or plain Python."""

from __future__ import annotations

from grok_magic._version import __version__

# Notebook-facing names load on first use so that `import grok_magic` (and the core) never
# imports IPython or ipywidgets, and `%load_ext grok_magic` stays instant.
_LAZY = {
    "GrokClient": "grok_magic.xai.client",
    "Settings": "grok_magic.settings",
    "Ask": "grok_magic.ask",
    "Conversation": "grok_magic.conversation",
    "Response": "grok_magic.xai.response",
    "Usage": "grok_magic.xai.response",
    "GrokError": "grok_magic.errors",
    "Ledger": "grok_magic.ledger.store",
    "Recorder": "grok_magic.ledger.recorder",
    "build_user_turn": "grok_magic.inputs.prompt",
    "to_image_part": "grok_magic.inputs.images",
    "encode_image": "grok_magic.inputs.images",
    "is_image_like": "grok_magic.inputs.images",
    "ask_each": "grok_magic.runs.ask_each",
    "Each": "grok_magic.runs.each",
    "BatchJob": "grok_magic.runs.batch_job",
    "ChatPanel": "grok_magic.notebook.panel",
    "GrokMagics": "grok_magic.notebook.magics",
}

__all__ = [*_LAZY, "load_ipython_extension", "unload_ipython_extension", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grok_magic' has no attribute {name!r}")


def load_ipython_extension(ipython) -> None:
    """Register %%grok and %grok (called by `%load_ext grok_magic`)."""
    from grok_magic.notebook.magics import register

    register(ipython)


def unload_ipython_extension(ipython) -> None:
    """Remove what load_ipython_extension added."""
    from grok_magic.notebook.magics import unregister

    unregister(ipython)

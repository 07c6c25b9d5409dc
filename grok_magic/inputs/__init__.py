"""What a notebook holds, turned into a turn for xAI: `prompt` (a cell's text, {name} values and
Markdown images into a user message), `describe` (DataFrames, arrays and other values as text),
`images` (pictures of every kind as JPEG/PNG data URLs), `structured` (--json / --schema) and
`tracebacks` (the last error of a cell, for %grok fix and explain).

May import grok_magic.xai (the message shapes), grok_magic.safety and the base modules; never
the ledger, runs or the notebook.
"""

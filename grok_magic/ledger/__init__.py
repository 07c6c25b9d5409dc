"""Money and memory: every answer kept once in a local SQLite ledger (`store`, with `file`,
`schema`, `writer`, `health`, `reservations`, `rows`), the Batch API's jobs (`batches`), requests
in canonical form (`canonical`), answering from the ledger (`replay`), budgets and the spending
they hold across threads and kernels (`budget`, `spending`), and `recorder`, which sends a
question through all of them.

May import grok_magic.ask, grok_magic.inputs, grok_magic.xai, grok_magic.safety and the base
modules; never conversation, chat, runs or the notebook.
"""

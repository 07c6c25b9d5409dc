"""The wire to xAI, and nothing above it: HTTP with limits (`transport`, `watched_http`,
`answer_watch`), Server-Sent Events (`sse`), the answer streams (`streams`, `responses_events`),
the request and answer types (`messages`, `response`), `client` (chat completions and the
Responses API), `responses` (Responses request bodies and tools), `batch_api` (the Batch and
Files APIs) and prices (`pricing`, `price_list`).

May import grok_magic.safety and the package's base modules (errors, settings, model_names,
private_files, _version); never inputs, ledger, runs or the notebook.
"""

"""One prompt over a dataset: `items` and `files` (what the rows are, and the image files they
name), `runner` (concurrent live requests with retries, resume and budgets), `table` (the
progress, rows, summary and result table shared by live and batch runs), `each` (a live run),
`batch_job` and `batch_submit` (a run through xAI's Batch API), and `ask_each`, the one place
that chooses between them.

May import everything below it: conversation, ask, the ledger, inputs, xai, safety and the
base modules; never the notebook.
"""

"""What the tests share: the strict local xAI stand-in (xai_standin, with the Responses and
Batch routes beside it), kernel and magic helpers, and the hostile corpora. Imported as
`tests.support.NAME` by tests and by bench/."""

"""`ask_each`: one prompt over a list, a dict, a pandas Series / Index / DataFrame or a folder of
images — one one-turn exchange per item, run concurrently, results aligned with the input.

A string in the data is text, whatever it looks like: `{note}` inserts a path as its text. An
item is an image when it is an image object (PIL image, numpy array, matplotlib figure, image
bytes), when `data` is a glob string (`"photos/*.jpg"`), or when its column is one of
`image_cols` (`["item"]` for the items of a list, tuple, Series or dict): those strings are image
files, read only under `root` (default: the working directory, the notebook's folder), and
every row is checked before anything is sent (grok_magic.runs.files).

The result is a pandas DataFrame indexed like the input (a list of dicts without pandas): the
answer (or one column per top-level field with `json` / `schema`), then model, tokens, cost,
seconds, error and replayed. Re-running the same call sends only the items without an OK answer.

>>> frame = ask_each("Label this photo in one word: {item}", "photos/*.jpg")   # doctest: +SKIP
>>> frame[["answer", "cost", "error"]]                                        # doctest: +SKIP
>>> shots = pd.DataFrame({"photo": ["shots/a.png", "shots/b.png"]})             # doctest: +SKIP
>>> ask_each("What is in {photo}?", shots, image_cols=["photo"])               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

from grok_magic.runs.batch_submit import submit
from grok_magic.runs.each import Each
from grok_magic.runs.runner import Progress


def ask_each(template: str, data: object, *, progress: Callable[[Progress], None] | None = None,
             via: str = "live", **options):
    """One prompt over every item of `data` (see the module docstring); `options` are those of
    `Each` (model, system, images, detail, temperature, max_tokens, reasoning_effort, json,
    schema, timeout, concurrency, max_retries, deadline, client, recorder, namespace,
    image_cols, root, …).

    A path string in the data stays text unless its column is in `image_cols`, e.g.
    `ask_each("Describe {photo}", frame, image_cols=["photo"], root="shots")`.

    `via="batch-api"` queues the requests at xAI's Batch API instead and returns a
    `BatchJob` at once (`.wait()` gives the same table)."""
    each = Each(template, data, **options)
    if via == "batch-api":
        return submit(each)
    if via != "live":
        raise ValueError(f"via is {via!r}: use 'live' or 'batch-api'")
    return each.run(progress)

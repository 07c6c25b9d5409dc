"""The result of a run, as a notebook shows it: `EachReport` (the summary line and the first rows)
for live `--each` runs and Batch API jobs alike, and RESULT_NAME, where the table is kept."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from grok_magic.notebook.display import Report, cell
from grok_magic.notebook.reports import table

if TYPE_CHECKING:
    from grok_magic.runs.items import Items
    from grok_magic.runs.table import Summary

RESULT_NAME = "_grok_each"
HEAD_ROWS = 5
PREVIEW_CHARS = 80  # of an input, and of a value other than the answer
ANSWER_CHARS = 400  # of an answer: enough to judge it beside its input
THUMB_SIDE = 96  # pixels of the image a thumbnail is made from (shown at up to 96)


class EachReport:
    """A run's one-line summary and its first rows, every value escaped; `out_name`: the
    variable (-o OUT) that holds the table besides RESULT_NAME."""

    def __init__(self, summary: Summary, result, out_name: str | None = None,
                 items: Items | None = None) -> None:
        self.summary, self.out_name = summary, out_name
        self.header, self.rows = head_rows(result, items)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        line = self.summary.line()
        markdown = f"**--each:** {cell(line)}"
        plain = [f"--each: {line}"]
        if self.rows:
            out = self.out_name or ""
            named = f"`{out}`" if out.isidentifier() else cell(out)  # (a code span: no escapes)
            where = f"{named} and `{RESULT_NAME}`" if out else f"`{RESULT_NAME}`"
            markdown += f"\n\nFirst {len(self.rows)} rows (all in {where}):\n\n"
            markdown += table(self.header, self.rows, right=("cost",))
            plain += [" | ".join(str(v) for v in row) for row in self.rows]
        return Report(markdown, "\n".join(plain))._repr_mimebundle_()

    def __repr__(self) -> str:
        return self._repr_mimebundle_()["text/plain"]


def head_rows(result, items: Items | None = None) -> tuple[tuple, list[tuple]]:
    """The first rows of a result (a DataFrame or a list of dicts) as short strings; with the
    run's `items`, each row's input beside its answer."""
    if isinstance(result, list):
        records = result[:HEAD_ROWS]
        keys = [k for k in (records[0] if records else {}) if k not in ("model", "seconds")]
        return tuple(keys), [tuple(_short(r.get(k)) for k in keys) for r in records]
    frame = result.head(HEAD_ROWS)
    keys = [c for c in frame.columns if c not in ("model", "prompt_tokens", "completion_tokens",
                                                   "reasoning_tokens", "seconds", "replayed")]
    if items is None or len(items) != len(result):
        rows = [(_short(index), *(_short(row[k], _chars(k)) for k in keys))
                for index, row in frame.iterrows()]
        return ("index", *keys), rows
    # Each answer beside what it answered: the item (a file by its name), then the answer.
    rows = [(_short(items.label(i)), _short(items.preview(i)),
             *(_short(row[k], _chars(k)) for k in keys))
            for i, (_index, row) in enumerate(frame.iterrows())]
    return ("index", "input", *keys), rows


def _chars(column: str) -> int:
    return ANSWER_CHARS if column == "answer" or column.endswith("_answer") else PREVIEW_CHARS


def is_picture(value) -> bool:
    """Whether `value` is a PIL image (told by its shape: PIL is not imported to ask)."""
    return all(hasattr(value, name) for name in ("size", "mode", "convert"))


def _short(value, chars: int = PREVIEW_CHARS) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, list) and value and all(map(is_picture, value)):
        return f"{len(value)} images"
    if is_picture(value):
        return f"image {value.size[0]}×{value.size[1]}"  # a PIL image (Grok Imagine's)
    text = " ".join(str(value).split())
    return text[:chars] + ("…" if len(text) > chars else "")


def image_of(items: Items, position: int) -> object | None:
    """The image item `position` sends, if it sends one: an image file of the run, or the value
    of its first --image-col column (None: not an image run, or not readable now)."""
    from grok_magic.errors import GrokError
    from grok_magic.inputs.prompt import AsImage

    if items.kind == "files":
        return items.index[position]
    if items.image_cols is None or not items.image_cols.names:
        return None
    column = sorted(items.image_cols.names)[0]
    try:
        value = items.get(position).get(column)
    except GrokError:  # the file is gone or refused since it was sent
        return None
    return value.source if isinstance(value, AsImage) else value


def image_strip(items: Items | None, count: int = HEAD_ROWS) -> dict | None:
    """Thumbnails of a run's first images (image files, or an --image-col column), each over
    its item's label, as a row of widgets (PNGs the kernel made: the page loads no file and no
    URL); None when the run sends no images."""
    if items is None:
        return None
    import ipywidgets as widgets

    from grok_magic.errors import GrokError
    from grok_magic.inputs.images import to_image_part
    from grok_magic.notebook.panel_views import thumbnail

    boxes = []
    for position in range(min(count, len(items))):
        source = image_of(items, position)
        if source is None:
            continue
        try:
            image = thumbnail(to_image_part(source, max_side=THUMB_SIDE * 2))
        except (GrokError, OSError, ValueError):  # unreadable now: no thumbnail
            continue
        label = widgets.HTML(f"<small>{html.escape(items.label(position))}</small>")
        boxes.append(widgets.VBox([image, label],
                                  layout=widgets.Layout(align_items="center", margin="0 8px 0 0")))
    if not boxes:
        return None
    bundle = widgets.HBox(boxes, _dom_classes=("grok-each-thumbs",))._repr_mimebundle_()
    bundle = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    bundle["text/plain"] = (f"(thumbnails of the first {len(boxes)} "
                            f"image{'s' if len(boxes) != 1 else ''})")
    return bundle

"""The result of a run, as a notebook shows it: `EachReport` (the summary line and the first rows)
for live `--each` runs and Batch API jobs alike, and RESULT_NAME, where the table is kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grok_magic.notebook.display import Report, cell
from grok_magic.notebook.reports import table

if TYPE_CHECKING:
    from grok_magic.runs.table import Summary

RESULT_NAME = "_grok_each"
HEAD_ROWS = 5
PREVIEW_CHARS = 80


class EachReport:
    """A run's one-line summary and its first rows, every value escaped; `out_name`: the
    variable (-o OUT) that holds the table besides RESULT_NAME."""

    def __init__(self, summary: Summary, result, out_name: str | None = None) -> None:
        self.summary, self.out_name = summary, out_name
        self.header, self.rows = head_rows(result)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        line = self.summary.line()
        markdown = f"**--each:** {cell(line)}"
        plain = [f"--each: {line}"]
        if self.rows:
            out = self.out_name or ""
            named = f"`{out}`" if out.isidentifier() else cell(out)  # (a code span: no escapes)
            where = f"{named} and `{RESULT_NAME}`" if out else f"`{RESULT_NAME}`"
            markdown += f"\n\nFirst {len(self.rows)} rows (all in {where}):\n\n"
            markdown += table(self.header, self.rows)
            plain += [" | ".join(str(v) for v in row) for row in self.rows]
        return Report(markdown, "\n".join(plain))._repr_mimebundle_()

    def __repr__(self) -> str:
        return self._repr_mimebundle_()["text/plain"]


def head_rows(result) -> tuple[tuple, list[tuple]]:
    """The first rows of a result (a DataFrame or a list of dicts) as short strings."""
    if isinstance(result, list):
        records = result[:HEAD_ROWS]
        keys = [k for k in (records[0] if records else {}) if k not in ("model", "seconds")]
        return tuple(keys), [tuple(_short(r.get(k)) for k in keys) for r in records]
    frame = result.head(HEAD_ROWS)
    keys = [c for c in frame.columns if c not in ("model", "prompt_tokens", "completion_tokens",
                                                   "reasoning_tokens", "seconds", "replayed")]
    rows = [(_short(index), *(_short(row[k]) for k in keys)) for index, row in frame.iterrows()]
    return ("index", *keys), rows


def _short(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    text = " ".join(str(value).split())
    return text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")

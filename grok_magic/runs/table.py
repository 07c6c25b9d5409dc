"""What live and batch runs show alike: the `Summary` of a run (and its one-line form), the
result table indexed like the input (a `ResultFrame`; a list of dicts without pandas) and
the record each row becomes in it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from grok_magic.runs.items import Items
from grok_magic.runs.runner import Progress, Row

METADATA = ("model", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cost", "seconds",
            "error", "replayed")


@dataclass(frozen=True)
class Summary:
    """How a run went, in numbers."""

    total: int
    ok: int
    failed: int
    cancelled: int
    replayed: int
    seconds: float
    tokens: int
    cost: float
    stopped: str | None = None

    def line(self) -> str:
        from grok_magic.xai.pricing import format_cost

        parts = [f"{self.ok:,} of {self.total:,} answered"]
        if self.failed:
            parts.append(f"{self.failed:,} failed")
        if self.cancelled:
            parts.append(f"{self.cancelled:,} not sent")
        if self.replayed:
            parts.append(f"{self.replayed:,} replayed")
        parts += [f"{self.seconds:.1f} s", f"{self.tokens:,} tokens", format_cost(self.cost)]
        text = " · ".join(parts)
        return f"{text} — {self.stopped}" if self.stopped else text


def summarise(rows: list[Row], progress: Progress, stopped: str | None) -> Summary:
    ok = sum(r.ok for r in rows)
    not_sent = sum(1 for r in rows if not r.ok and r.error and (
        r.error == "cancelled" or r.error.startswith("not sent")))
    return Summary(total=len(rows), ok=ok, failed=len(rows) - ok - not_sent, cancelled=not_sent,
                   replayed=sum(r.replayed for r in rows), seconds=progress.elapsed,
                   tokens=progress.tokens, cost=sum(r.cost or 0.0 for r in rows), stopped=stopped)


def result_table(items: Items, rows: list[Row], structured: bool, index_name=None):
    """A DataFrame (a `ResultFrame`, whose HTML MathJax leaves alone) indexed like the input (a
    list of dicts when pandas is missing)."""
    records = [record_of(row, structured) for row in rows]
    try:
        import pandas as pd
    except ImportError:
        return [{"index": key, **record} for key, record in zip(items.index, records,
                                                                 strict=True)]
    from grok_magic.runs.frame import ResultFrame  # shows model text as text (no MathJax)

    name = index_name if index_name is not None else index_name_of(items)
    index = pd.Index(items.index, name=name)
    columns = list(dict.fromkeys(k for record in records for k in record if k not in METADATA))
    return ResultFrame(records, index=index, columns=[*(columns or ["answer"]), *METADATA])


def index_name_of(items: Items):
    """The name of the input's index (a DataFrame's or Series'), or None."""
    return getattr(getattr(items.data, "index", None), "name", None)


def record_of(row: Row, structured: bool) -> dict:
    values: dict = {}
    parsed = row.parsed
    if structured and parsed is not None:
        if hasattr(parsed, "model_dump"):
            parsed = parsed.model_dump()
        if isinstance(parsed, Mapping):
            for key, value in parsed.items():
                values[f"{key}_answer" if key in METADATA else str(key)] = value
        else:
            values["answer"] = parsed
    else:
        values["answer"] = row.answer
    if row.image is not None:  # --imagine: the picture, beside its revised prompt
        values["image"] = row.image
    values.update({name: getattr(row, name) for name in METADATA})
    return values

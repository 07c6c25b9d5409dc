"""Front: `%grok usage --plot` — tokens and cost per day (a period, from the ledger) or per cell
(this session), drawn with matplotlib, imported here and only when a plot is asked for, and shown
as a PNG with the numbers as its text twin."""

from __future__ import annotations

import io
from collections.abc import Sequence

from grok_magic.notebook.display import plain_twin
from grok_magic.xai.pricing import format_cost

TOKEN_COLOUR, COST_COLOUR = "#5b8def", "#e39b3c"


def by_day(entries: Sequence) -> list[tuple[str, int, float]]:
    """(local date, tokens, cost) for each day the ledger's `entries` were on, in order."""
    from datetime import datetime

    def day(moment: str) -> str:
        return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone().strftime(
            "%Y-%m-%d")

    return _grouped(entries, lambda e: day(e.time))


def by_cell(entries: Sequence) -> list[tuple[str, int, float]]:
    """("In [n]", tokens, cost) for each cell the `entries` came from, in the order first asked
    (exchanges from no cell, such as scripts and the panel, as "other")."""
    return _grouped(entries, lambda e: f"In [{e.cell}]" if e.cell is not None else "other")


def _grouped(entries: Sequence, key) -> list[tuple[str, int, float]]:
    totals: dict[str, list] = {}
    for e in entries:
        point = totals.setdefault(key(e), [0, 0.0])
        point[0] += e.total_tokens or 0
        point[1] += e.cost or 0.0
    return [(label, tokens, cost) for label, (tokens, cost) in totals.items()]


class UsagePlot:
    """Tokens and cost per label (a day, a cell) as two bar charts, one over the other."""

    def __init__(self, points: Sequence[tuple[str, int, float]], title: str) -> None:
        self.points, self.title = list(points), title

    def figure(self):
        """The matplotlib Figure (no pyplot: nothing global is changed or kept)."""
        from matplotlib.figure import Figure

        labels = [p[0] for p in self.points]
        figure = Figure(figsize=(max(6.0, 0.6 * len(labels)), 5.0), layout="constrained")
        tokens, cost = figure.subplots(2, 1, sharex=True)
        tokens.bar(labels, [p[1] for p in self.points], color=TOKEN_COLOUR)
        tokens.set_ylabel("tokens")
        tokens.set_title(self.title)
        cost.bar(labels, [p[2] for p in self.points], color=COST_COLOUR)
        cost.set_ylabel("cost (USD)")
        cost.tick_params(axis="x", labelrotation=45 if len(labels) > 6 else 0)
        return figure

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()

    @property
    def plain(self) -> str:
        return plain_twin("\n".join([self.title] + [
            f"{label}: {tokens:,} tokens, {format_cost(cost)}" for label, tokens, cost
            in self.points]))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"image/png": self.png(), "text/plain": self.plain}

    def __repr__(self) -> str:
        return self.plain

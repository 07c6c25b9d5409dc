"""Front: the live progress bar of a run, `--each` and Batch API jobs alike — tqdm's widget in
Jupyter, shown in an output of ours that becomes the same bar as static HTML (and text) when the
run ends, so a saved notebook, nbconvert or GitHub shows how it ended; text in a terminal."""

from __future__ import annotations

import html
import sys

from grok_magic.notebook.display import close_widgets, plain_twin, with_widget
from grok_magic.runs.runner import Progress
from grok_magic.safety.markdown import wrap
from grok_magic.xai.pricing import format_cost


def postfix(progress: Progress) -> str:
    """What the bar says after its count: failures, replays, 429s, tokens, cost, in flight."""
    parts = [f"{progress.failed:,} failed" if progress.failed else "",
             f"{progress.replayed:,} replayed" if progress.replayed else "",
             f"{progress.rate_limited:,} × 429 (slowed down)" if progress.rate_limited else "",
             f"{progress.tokens:,} tokens", format_cost(progress.cost),
             f"{progress.in_flight} in flight" if progress.concurrency else ""]
    return " · ".join(p for p in parts if p)


class ProgressBar:
    """One live bar: done / total, rate, ETA and `postfix`, with an optional line of ours under
    it (a Batch API job's state). In Jupyter it is tqdm's widget in a display of ours; `close`
    puts the final bar there as static HTML and text and closes the widgets."""

    def __init__(self, total: int, terminal: bool, file=None, *, desc: str = "grok --each",
                 line: str = "") -> None:
        self.line, self._shown = line, 0
        self._handle = self._line = self._box = None
        if terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="item", desc=desc, file=file or sys.stderr,
                            dynamic_ncols=True, leave=True)
            return
        import ipywidgets as widgets
        from IPython.display import display
        from tqdm.notebook import tqdm as notebook_tqdm

        self.bar = notebook_tqdm(total=total, unit="item", desc=desc, display=False, leave=True)
        self._line = widgets.HTML(value=self._line_html())
        self._box = widgets.VBox([self.bar.container, self._line])
        self._box.add_class("grok-progress")
        self._handle = display(self._bundle(live=True), raw=True, display_id=True)

    def update(self, progress: Progress, line: str | None = None) -> None:
        """Show `progress` (and a new `line`, if given)."""
        self.bar.update(progress.done - self._shown)
        self._shown = progress.done
        if line is not None:
            self.line = line
            if self._line is not None:
                self._line.value = self._line_html()
        self.bar.set_postfix_str(postfix(progress), refresh=True)

    def close(self, line: str | None = None) -> None:
        """The run ended: the final bar (and `line`) stays, as static HTML in Jupyter."""
        if line is not None:
            self.line = line
        final = self._bundle(live=False) if self._handle is not None else None
        self.bar.close()
        if final is not None:
            self._handle.update(final, raw=True)
            close_widgets(self._box)
            self._handle = self._box = self._line = None

    def _meter(self) -> tuple[str, str]:
        """tqdm's text either side of the bar: "grok --each: 100%" and "4/4 [00:01<…, …]"."""
        shown = dict(self.bar.format_dict, bar_format="{l_bar}<bar/>{r_bar}")
        left, right = self.bar.format_meter(**shown).split("<bar/>", 1)
        return left.strip(" |"), right.strip(" |")

    def _line_html(self) -> str:
        return (f"<p class='grok-progress-line grok-batch-state'>{html.escape(self.line)}</p>"
                if self.line else "")

    def _bundle(self, *, live: bool) -> dict:
        left, right = self._meter()
        done, total = self.bar.n, self.bar.total or 0
        static = (
            f"<div class='grok-progress grok-progress-static' data-done='{done}' "
            f"data-total='{total}'><span class='grok-progress-label'>{html.escape(left)}</span> "
            f"<progress class='grok-progress-bar' value='{done}' max='{max(total, 1)}'>"
            f"</progress> <span class='grok-progress-text'>{html.escape(right)}</span>"
            f"{self._line_html()}</div>")
        text = f"{left} {right}" + (f"\n{self.line}" if self.line else "")
        bundle = {"text/plain": plain_twin(text), "text/html": wrap(static)}
        return with_widget(bundle, self._box) if live else bundle

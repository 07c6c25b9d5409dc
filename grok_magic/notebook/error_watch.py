"""Front: the last cell that failed (its source and error), for {Err}, %grok explain and %grok fix."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from grok_magic.inputs.tracebacks import describe_error, error_headline

OWN_CELLS = ("%%grok", "%grok")
MAX_DIFF_LINES = 40


@dataclass
class FailedCell:
    """A cell that raised: what was typed, its number, and the error."""

    source: str
    execution_count: int | None
    error: BaseException

    @property
    def error_text(self) -> str:
        """Type, message and the user's frames, as plain text."""
        return describe_error(self.error)

    @property
    def name(self) -> str:
        """The cell as the notebook shows it: "Cell [12]"."""
        return "The failed cell" if self.execution_count is None else f"Cell [{self.execution_count}]"

    @property
    def label(self) -> str:
        """The cell and its error in one line: "Cell [12], ZeroDivisionError: division by zero"."""
        return f"{self.name}, {error_headline(self.error)}"

    def diff(self, fixed: str, max_lines: int = MAX_DIFF_LINES) -> str:
        """A unified diff from this cell's source to `fixed`, at most `max_lines` lines."""
        lines = list(difflib.unified_diff(
            self.source.rstrip("\n").split("\n"), fixed.rstrip("\n").split("\n"),
            self.name, "the fix", lineterm="", n=2))
        if not lines:
            return "(the fix is the same as the failed cell)"
        if len(lines) > max_lines:
            more = len(lines) - max_lines
            lines = [*lines[:max_lines], f"… {more} more line{'s' if more != 1 else ''} of diff"]
        return "\n".join(lines)


class ErrorWatch:
    """Listens to IPython's post_run_cell event and keeps the last failure of the user's code
    (a %%grok cell's own failure is not one)."""

    def __init__(self, shell) -> None:
        self.shell = shell
        self.last: FailedCell | None = None
        if shell is not None:
            shell.events.register("post_run_cell", self._after_cell)

    def close(self) -> None:
        if self.shell is not None:
            try:
                self.shell.events.unregister("post_run_cell", self._after_cell)
            except ValueError:
                pass

    def _after_cell(self, result) -> None:
        error = result.error_in_exec or result.error_before_exec
        source = getattr(result.info, "raw_cell", "") or ""
        if error is None or source.lstrip().startswith(OWN_CELLS):
            return
        self.last = FailedCell(source, result.execution_count, error)

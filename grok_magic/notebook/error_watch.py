"""Front: the last cell that failed (its source and error), for {Err}, %grok explain and %grok fix."""

from __future__ import annotations

from dataclasses import dataclass

from grok_magic.inputs.tracebacks import describe_error

OWN_CELLS = ("%%grok", "%grok")


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

"""Front: the number of the cell that is running now, its In[n], on IPython 8 and 9 alike.

IPython 8 adds one to `shell.execution_count` after a cell has run, so while it runs the counter
is that cell's number. IPython 9 (since 9.8, ipython/ipython#15088) adds one before the cell's
code runs, so the counter is already the next cell's number. Both give the running cell's
`ExecutionResult` to the display hook while its code runs, with `execution_count` set when the
cell goes into the history (a kernel's cells do); that number is the one the front end shows.
"""

from __future__ import annotations


def running_cell(shell) -> int | None:
    """In[n] of the cell running in `shell` now; outside a cell that stores its history (no
    shell, a silent run, a magic called from code), `shell.execution_count` as it stands."""
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    number = getattr(result, "execution_count", None)
    return number if number is not None else getattr(shell, "execution_count", None)

"""Front: the running cell — its number, In[n], on IPython 8 and 9 alike — and its option line
(`split_options`).

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


def split_options(line: str) -> list[str]:
    """A magic's option line split as a POSIX shell would (quotes kept together)."""
    from IPython.core.error import UsageError
    from IPython.utils.process import arg_split

    try:
        return arg_split(line, posix=True)
    except ValueError as err:
        raise UsageError(f"Cannot read the %%grok options ({err}): check the quotes.") from None

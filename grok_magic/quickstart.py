"""Open the quickstart notebook in JupyterLab, also as root: `python -m grok_magic.quickstart [ARGS]`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

NOTEBOOK = Path("notebooks", "01-quickstart.ipynb")
INSTALL = 'python -m pip install -e ".[notebook]"'


def find_notebook(start: Path | None = None) -> Path | None:
    """The quickstart notebook in `start` (default: the current directory) or a folder above it,
    else in the source tree grok_magic was installed from (an editable install); None if absent."""
    here = (Path.cwd() if start is None else Path(start)).absolute()
    repo = Path(__file__).resolve().parent.parent
    for folder in (here, *here.parents, repo):
        candidate = folder / NOTEBOOK
        if candidate.is_file():
            return candidate
    return None


def command(notebook: Path, args: Sequence[str] = ()) -> list[str]:
    """The JupyterLab command line: the notebook, `--allow-root` when run as root, then `args`.

    JupyterLab serves the notebook's folder (unless `args` set `--ServerApp.root_dir`), and the
    URL it prints is the notebook's: `http://127.0.0.1:8888/lab/tree/01-quickstart.ipynb?token=…`.
    """
    argv = [sys.executable, "-m", "jupyterlab", str(notebook)]
    geteuid = getattr(os, "geteuid", None)  # not on Windows
    if geteuid is not None and geteuid() == 0 and "--allow-root" not in args:
        argv.append("--allow-root")
    if not any("default_url" in a or "root_dir" in a or "notebook_dir" in a for a in args):
        # The URL JupyterLab prints (and `/` on the server) opens the notebook itself, not the
        # Launcher: what to paste in a browser when JupyterLab runs remotely or in a container.
        argv.append(f"--LabApp.default_url=/lab/tree/{notebook.name}")
    return [*argv, *args]


def main(args: Sequence[str] | None = None) -> int:
    """Find the notebook and replace this process with JupyterLab on it (extra args passed on)."""
    args = list(sys.argv[1:] if args is None else args)
    notebook = find_notebook()
    if notebook is None:
        raise SystemExit(
            f"The quickstart notebook {NOTEBOOK.as_posix()} was not found in {Path.cwd()}, the "
            f"folders above it, or {Path(__file__).resolve().parent.parent} (the folder this "
            f"grok_magic is installed in). It comes with the grok_magic repository, not "
            f"with the installed package: run this command from a clone of the repository (after "
            f"{INSTALL} there), or open any notebook with `python -m jupyterlab NOTEBOOK`."
        )
    if importlib.util.find_spec("jupyterlab") is None:
        raise SystemExit(
            f"JupyterLab is not installed for this Python ({sys.executable}). Install it with "
            f"{INSTALL} (from the repository root), or `python -m pip install jupyterlab`, and "
            f"run `python -m grok_magic.quickstart` again."
        )
    argv = command(notebook, args)
    print(f"Opening {notebook} in JupyterLab: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    if os.name == "nt":  # no real exec on Windows: run it as a child and pass its status on
        return subprocess.call(argv)
    os.execv(sys.executable, argv)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

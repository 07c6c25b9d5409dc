"""Record the lesson of 05-lesson-replay.ipynb at home: its `lesson` cells, asked with replay off,
exported to the small ledger that the notebook replays in class (lesson-ledger.sqlite).

Regenerate the committed file (the local test stand-in answers; no key, no network, no cost):

    python notebooks/make_lesson_ledger.py --standin

Record the lesson against the real Grok instead (needs XAI_API_KEY, in the environment or a
.env file; costs a few cents; the exchanges are also kept in your own ledger, GROK_LEDGER or
~/.local/share/grok_magic/ledger.sqlite, as any other question would be):

    python notebooks/make_lesson_ledger.py

The script runs the notebook's own code cells tagged `lesson`, verbatim and in order, in a fresh
Jupyter kernel started in notebooks/ (as the notebook's kernel is), after `%load_ext grok_magic`
with replay "off"; then `%grok export OUTPUT --session`. So the requests recorded here are the
ones the notebook makes in class, and they cannot drift apart: edit a lesson cell, then run this
again. Run it again too if grok_magic comes to build its requests differently (the notebook then
says a lesson question is "Not in the ledger"). The file is written only once every cell has
succeeded (an existing lesson is replaced then, not before). Needs nbclient and ipykernel
(`pip install -e ".[test]"`).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "05-lesson-replay.ipynb"
OUTPUT = HERE / "lesson-ledger.sqlite"
TAG = "lesson"
TIMEOUT = 300  # seconds a lesson cell may take


def lesson_cells(notebook: Path = NOTEBOOK) -> list[str]:
    """The sources of the notebook's code cells tagged `lesson`, in order."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and TAG in c.get("metadata", {}).get("tags", [])]


def asking_cells(cells: list[str]) -> int:
    """How many of `cells` ask Grok: a `%%grok` cell, or a `%grok QUESTION` line (not a
    subcommand, not a dry run)."""
    from grok_magic.notebook.subcommands import SUBCOMMANDS

    asked = 0
    for source in cells:
        first = source.lstrip().split("\n", 1)[0]
        words = first.split()
        if first.startswith("%%grok"):
            asked += "--dry-run" not in words
        elif first.startswith("%grok ") and len(words) > 1 and words[1] not in SUBCOMMANDS \
                and not words[1].startswith("-"):
            asked += 1
    return asked


def recording_notebook(cells: list[str], export_to: Path, ledger: str | None):
    """A notebook that loads grok_magic with replay off, runs `cells`, and exports the session."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    setup = ["%load_ext grok_magic", '%config GrokMagics.replay = "off"']
    if ledger is not None:
        setup.append(f"%config GrokMagics.ledger = {ledger!r}")
    sources = ["\n".join(setup), *cells, f"%grok export {export_to} --session"]
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.validate(nb)
    return nb


def run_in_kernel(nb, cwd: Path) -> None:
    """Execute `nb` in a fresh python3 kernel with `cwd` as its working directory."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()


def cell_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def check_ledger(path: Path, key: str | None) -> list[tuple]:
    """The exported exchanges (question, model, cost); raises if the file is not a complete,
    self-contained lesson."""
    data = path.read_bytes()
    if key and key.encode() in data:
        raise SystemExit(f"{path} contains the API key; not kept")
    if data[18:20] != b"\x01\x01":  # SQLite header: legacy (rollback-journal) format, not WAL
        raise SystemExit(f"{path} is in WAL mode; an exported lesson should not be")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT question, model_served, cost, status FROM exchanges "
                            "ORDER BY id").fetchall()
    finally:
        conn.close()
    failed = [r for r in rows if r[3] != "ok"]
    if not rows or failed:
        raise SystemExit(f"the lesson has {len(rows)} exchanges, {len(failed)} not ok: {failed}")
    return [r[:3] for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--standin", action="store_true",
                        help="ask the local xAI stand-in from tests/ (a fake key, no network)")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK,
                        help=f"the notebook whose `{TAG}` cells to run (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=OUTPUT,
                        help="the lesson ledger to write (default: %(default)s)")
    args = parser.parse_args(argv)

    cells = lesson_cells(args.notebook)
    if not cells:
        parser.error(f"{args.notebook} has no code cells tagged {TAG!r}")
    output = args.output.resolve()
    for name in ("GROK_REPLAY", "JPY_SESSION_NAME"):  # the kernel inherits this environment
        os.environ.pop(name, None)

    standin = None
    key = None
    with tempfile.TemporaryDirectory(prefix="grok-lesson-") as scratch:
        scratch_dir = Path(scratch)
        ledger = None
        if args.standin:
            sys.path.insert(0, str(HERE.parent))  # the repository root: tests.support
            from tests.support.xai_standin import FAKE_KEY, XaiStandin

            standin = XaiStandin(api_key=FAKE_KEY).start()
            key = FAKE_KEY
            os.environ.update(XAI_BASE_URL=standin.base_url, XAI_API_KEY=FAKE_KEY)
            ledger = str(scratch_dir / "recording.sqlite")  # the user's own ledger stays clean
        else:
            from grok_magic.settings import Settings

            settings = Settings.load()
            if not settings.has_key:
                parser.error("no xAI API key: set XAI_API_KEY (or add it to .env), or use "
                             "--standin to record against the local test stand-in")
            key = settings.require_key()  # only to check that the file does not hold it
        exported = scratch_dir / "lesson.sqlite"
        nb = recording_notebook(cells, exported, ledger)
        try:
            run_in_kernel(nb, args.notebook.resolve().parent)
        finally:
            if standin is not None:
                standin.stop()
        said = cell_text(nb.cells[-1]).strip()
        print(said.split(". To replay")[0] + ".")
        if not exported.is_file():
            raise SystemExit("nothing was exported; the lesson ledger was not changed")
        rows = check_ledger(exported, key)
        if len(rows) != asking_cells(cells):
            # e.g. a `%grok QUESTION?` line: IPython takes a trailing ? as a request for help
            raise SystemExit(f"{asking_cells(cells)} lesson cells ask Grok but {len(rows)} "
                             "exchanges were recorded; the lesson ledger was not changed")
        output.parent.mkdir(parents=True, exist_ok=True)
        staged = output.with_name(output.name + ".new")
        staged.write_bytes(exported.read_bytes())
        os.replace(staged, output)

    total = sum(cost or 0 for _, _, cost in rows)
    for question, model, cost in rows:
        words = question.split()
        print(f"  {model}  ${cost or 0:.6f}  {' '.join(words[:10])}{'…' if len(words) > 10 else ''}")
    print(f"{output}: {len(rows)} exchanges, ${total:.6f} when recorded, "
          f"{output.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

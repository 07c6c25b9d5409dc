"""Every notebook in notebooks/ runs top to bottom twice in a row against one ledger, in a real
kernel (a teacher rehearses, then teaches: the second run replays what the first recorded), and
06-search-and-tools holds when Grok chooses other tools than the stand-in does (recorded real
traffic: six tool calls where the stand-in makes two).

Each notebook runs as nbval runs it: in notebooks/ (its relative paths), with the session's
stand-in (XAI_BASE_URL / XAI_API_KEY from `xai_env`) and, here, a fresh GROK_LEDGER of its own.
A cell tagged `raises-exception` must raise; any other error fails the test, named by notebook,
run and cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.standin_responses import ToolRun, enqueue_responses
from tests.support.xai_standin import Replay

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
RUNS = 2
CELL_TIMEOUT = 600  # seconds; 07's batch job waits for the stand-in's Batch API

pytestmark = pytest.mark.timeout(600)


def run_notebook(path: Path) -> nbformat.NotebookNode:
    """`path` executed in a fresh kernel, in notebooks/, every cell run even after an error."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def problems(nb: nbformat.NotebookNode, where: str) -> list[str]:
    """Each code cell that failed (or, tagged raises-exception, did not), one line each."""
    found = []
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        expected = "raises-exception" in cell.metadata.get("tags", [])
        first_line = cell.source.strip().splitlines()[0][:70] if cell.source.strip() else ""
        if errors and not expected:
            err = errors[0]
            found.append(f"{where}, cell {number} ({first_line!r}): {err.ename}: "
                         f"{err.evalue[:300]}")
        elif expected and not errors:
            found.append(f"{where}, cell {number} ({first_line!r}): tagged raises-exception, "
                         "raised nothing")
    return found


@pytest.fixture
def notebook_env(xai_env, ledger_path):
    """The session stand-in (reset) and a ledger of this test's own, for the kernels."""
    return xai_env, ledger_path


def test_the_notebooks_are_committed_without_outputs():
    assert ALL, f"no notebooks in {NOTEBOOKS}"
    for path in ALL:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_a_notebook_runs_twice_in_a_row_on_one_ledger(path, notebook_env):
    _, ledger = notebook_env
    found = []
    for run in range(1, RUNS + 1):
        found += problems(run_notebook(path), f"{path.name}, run {run} of {RUNS}")
        if run == 1 and path.name != "05-lesson-replay.ipynb":
            # 05 replays its committed lesson only (read-only); every other one records here.
            assert ledger.exists(), f"{path.name} recorded nothing in GROK_LEDGER"
    assert not found, "\n".join(found)


def test_the_tools_notebook_holds_against_recorded_real_traffic(notebook_env):
    """Grok's own choices: the search cell gets xAI's recorded x_search answer (six tool calls,
    twenty sources, a model of its own), the computation runs other code than the stand-in's
    and never writes "55" in its text."""
    srv, _ = notebook_env
    enqueue_responses(srv, Replay("xai-x-search-tool"),
                      ToolRun(text="The sum is fifty-five.",
                              code="total = 0\nfor n in range(1, 11):\n    total += n\nprint(total)",
                              code_output="55\n"))
    nb = run_notebook(NOTEBOOKS / "06-search-and-tools.ipynb")
    found = problems(nb, "06-search-and-tools.ipynb against recorded traffic")
    assert not found, "\n".join(found)
    # The recordings were the answers: none is left in the queue for a later cell.
    from tests.support.standin_responses import responses_state

    assert not responses_state(srv).queue
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if o.output_type == "stream")
    assert printed.count("x_search ·") == 2 and printed.count("web_search ·") == 4
    assert "total += n" in printed

"""Run notebook cells in a real kernel and record every message the front end would receive."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import nbformat
import pytest
from nbclient import NotebookClient

FRONT_END_TYPES = ("display_data", "update_display_data", "execute_result", "stream", "comm_msg",
                   "comm_open", "error")


@dataclass
class Message:
    at: float
    cell: int
    type: str
    content: dict

    @property
    def nbytes(self) -> int:
        return len(json.dumps(self.content, ensure_ascii=False).encode())

    @property
    def html(self) -> str:
        return (self.content.get("data") or {}).get("text/html", "")


class RecordingClient(NotebookClient):
    """A NotebookClient that keeps each iopub message a front end would render, with its time."""

    def __init__(self, nb, **kwargs) -> None:
        super().__init__(nb, **kwargs)
        self.messages: list[Message] = []

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in FRONT_END_TYPES:
            self.messages.append(Message(time.monotonic(), cell_index, msg["msg_type"],
                                         msg["content"]))
        return super().process_message(msg, cell, cell_index)


@dataclass
class KernelRun:
    notebook: nbformat.NotebookNode
    messages: list[Message] = field(default_factory=list)

    def of_cell(self, index: int) -> list[Message]:
        return [m for m in self.messages if m.cell == index]


def run_cells(sources: list[str], timeout: int = 120, allow_errors: bool = False) -> KernelRun:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = RecordingClient(nb, timeout=timeout, kernel_name="python3",
                             allow_errors=allow_errors)
    client.execute()
    return KernelRun(nb, client.messages)


def long_answer(target_chars: int = 20_000) -> str:
    """A realistic Markdown answer: headings, paragraphs, lists and code blocks."""
    blocks: list[str] = []
    n = 0
    while sum(len(b) + 2 for b in blocks) < target_chars:
        n += 1
        blocks.append(f"## Part {n}")
        blocks.append(
            f"Paragraph {n} explains the idea with **emphasis**, `inline code` and a few "
            "sentences of ordinary prose so that the block has a typical length for an answer "
            "that a model streams back token by token while the reader waits."
        )
        blocks.append("\n".join(f"- point {n}.{i}: a short list item" for i in range(1, 5)))
        blocks.append(f"```python\ndef step_{n}(x):\n\n    return x * {n}\n```")
    return "\n\n".join(blocks)[:target_chars]


@dataclass
class CellRun:
    """One cell run in a live kernel: its execute reply and what it displayed."""

    reply: dict
    outputs: list[dict]

    @property
    def next_input(self) -> str | None:
        """The text a `set_next_input` payload puts into a new cell below (what JupyterLab does)."""
        for payload in self.reply["content"].get("payload") or ():
            if payload.get("source") == "set_next_input":
                return payload["text"]
        return None

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    def text(self) -> str:
        """Every output's text/plain and stream text, joined."""
        parts = []
        for msg in self.outputs:
            content = msg["content"]
            parts.append(content.get("text", ""))
            parts.append((content.get("data") or {}).get("text/plain", ""))
            parts.extend(content.get("traceback") or ())
        return "\n".join(parts)


class LiveKernel:
    """A real ipykernel, cell by cell, keeping each execute reply (payloads included)."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3")

    def run(self, code: str, timeout: float = 60) -> CellRun:
        outputs: list[dict] = []

        def keep(msg: dict) -> None:
            if msg["msg_type"] in FRONT_END_TYPES:
                outputs.append(msg)

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=keep)
        return CellRun(reply, outputs)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def drain_until_idle(client, until_idle_of: str, timeout: float = 30) -> list[dict]:
    """Every iopub message, whichever cell it belongs to, until `until_idle_of` goes idle."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=timeout)
        seen.append(msg)
        if (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == until_idle_of):
            return seen
    raise AssertionError("the cell did not finish in time")


@pytest.fixture(scope="module")
def kernel():
    """One real kernel for a test module."""
    k = LiveKernel()
    yield k
    k.close()


@pytest.fixture
def lab(kernel, xai_env):
    """The module's kernel with grok_magic loaded and pointed at the (reset) stand-in."""
    from tests.support.xai_standin import FAKE_KEY

    kernel.run(f"import os; os.environ.update(XAI_BASE_URL={xai_env.base_url!r}, "
               f"XAI_API_KEY={FAKE_KEY!r})")
    kernel.run("%reload_ext grok_magic")
    return kernel

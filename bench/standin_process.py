"""What the benchmarks share: the stand-in, run in its own process so it shares neither CPU
time nor memory with what is measured, and reading /proc/self/status. `StandinProcess(handler)`
starts the stand-in; `ask(*command)` sends a command, which `handler(srv, command)` (a
module-level function of the benchmark) carries out in the child, and returns its answer;
`stop()` ends it."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable


def _serve(conn, handler: Callable) -> None:
    from tests.support.xai_standin import FAKE_KEY, XaiStandin

    srv = XaiStandin(api_key=FAKE_KEY).start()
    conn.send(srv.base_url)
    while True:
        command = conn.recv()
        if command[0] == "stop":
            break
        conn.send(handler(srv, command))
    srv.stop()


class StandinProcess:
    def __init__(self, handler: Callable) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, there = ctx.Pipe()
        self.child = ctx.Process(target=_serve, args=(there, handler), daemon=True)
        self.child.start()
        self.base_url = self.conn.recv()

    def ask(self, *command):
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.child.join(10)


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS, VmHWM), 0 where there is none."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

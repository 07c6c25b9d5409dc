"""Running cells in a real InteractiveShell and reading what a notebook user would see."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs) -> None:
        self.in_style = self.in_style or tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.in_style = self.in_style and tag != "style"

    def handle_data(self, data: str) -> None:
        if not self.in_style:  # CSS is not shown
            self.parts.append(data)


def visible_text(html_text: str) -> str:
    """What a browser shows of `html_text` as text (word joiners dropped)."""
    parser = _Text()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.parts).replace("\u2060", "")


@dataclass
class Outcome:
    """A cell's result: the displays as the front end ends up showing them, printed text, error."""

    error: BaseException | None
    stdout: str
    stderr: str
    raw: list = field(default_factory=list)

    @property
    def outputs(self) -> list[dict]:
        """Final display bundles, in order, with updates applied by display id."""
        shown: list[dict] = []
        by_id: dict[str, int] = {}
        for out in self.raw:
            display_id = (out.transient or {}).get("display_id")
            if out.update:
                if display_id in by_id:
                    shown[by_id[display_id]] = dict(out.data)
                continue
            if display_id:
                by_id[display_id] = len(shown)
            shown.append(dict(out.data))
        return shown

    def html(self) -> str:
        """The HTML the front end renders, every output joined."""
        return "\n".join(o.get("text/html", "") for o in self.outputs)

    def shown(self) -> str:
        """The text a reader sees in the rendered HTML (tags dropped, entities decoded)."""
        return visible_text(self.html())

    def told(self) -> str:
        """What the user reads: the rendered outputs' text, then what was printed (a short
        traceback line IPython printed included)."""
        return "\n".join((self.shown(), self.stdout, self.stderr))

    def plain(self) -> str:
        return "\n".join(o.get("text/plain", "") for o in self.outputs)

    def everything(self) -> str:
        """Every byte the user could see or save: all bundles (updates too), stdout, stderr."""
        parts = [self.stdout, self.stderr, str(self.error or "")]
        for out in self.raw:
            parts.extend(str(v) for v in out.data.values())
        return "\n".join(parts)


def shell() -> InteractiveShell:
    return InteractiveShell.instance()


def magic_shell(**options) -> InteractiveShell:
    """The shared shell with freshly registered GrokMagics, a clean namespace and no %config
    left over from an earlier test; `options` are set on the magics (e.g. max_retries=0).
    The magics are `shell.grok_magics`."""
    from grok_magic.notebook.magics import GrokMagics

    shell_ = shell()
    for name in [n for n in shell_.user_ns if not n.startswith("_") or n == "_grok"]:
        if name not in shell_.user_ns_hidden:
            shell_.user_ns.pop(name, None)
    shell_.config.pop("GrokMagics", None)
    magics = GrokMagics(shell=shell_)
    shell_.register_magics(magics)
    shell_.configurables[:] = [c for c in shell_.configurables if not isinstance(c, GrokMagics)]
    shell_.configurables.append(magics)
    for name, value in options.items():
        setattr(magics, name, value)
    shell_.grok_magics = magics
    return shell_


def close_ledger(shell_: InteractiveShell) -> None:
    ledger = shell_.grok_magics.recorder.ledger
    if ledger is not None:
        ledger.close()


def wait_until(condition, timeout: float = 10.0) -> None:
    """Wait for `condition()` to be true (widgets set from worker threads), or fail."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def run(ip: InteractiveShell, source: str) -> Outcome:
    with capture_output() as cap:
        result = ip.run_cell(source)
    error = result.error_in_exec or result.error_before_exec
    return Outcome(error, cap.stdout, cap.stderr, list(cap.outputs))

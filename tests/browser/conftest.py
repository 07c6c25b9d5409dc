"""Real-browser harness: a throw-away JupyterLab server driven by headless Debian Chromium.

Fixtures
--------
``jupyterlab`` (session)  -> :class:`Lab`: a running server on 127.0.0.1 with its own temp
                             root / config / data / runtime dirs, autosave and news off.
``browser``    (session)  -> a Playwright ``Browser`` (``/usr/bin/chromium``).
``page``       (function) -> a ``Page`` in a fresh context; on failure a screenshot, the
                             browser console and the tail of the server log are saved/printed.
``artifacts_dir`` (function) -> ``tests/browser/artifacts/<test name>/`` (emptied first).

Helpers (import with ``from .conftest import ...`` or ``from conftest import ...``)
--------------------------------------------------------------------------------------
``write_notebook(root, name, cells) -> Path``
``open_notebook(page, lab, name)``
``wait_kernel_idle(page, timeout=...)``
``run_all(page, *, expect_error=False, timeout=...)``
``screenshot(page, name) -> Path``
``xss_fired(page) -> bool``

Chromium missing (or Playwright not importable): the tests are skipped, unless
``GROK_BROWSER_REQUIRED=1`` (set by .ci/run under CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "grok-browser-test-token"
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"
EXPECT_TIMEOUT_MS = 60_000  # 5 s is too tight on 2 cores
SERVER_START_TIMEOUT_S = 60
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"

# Settings written as the lab's *user* settings (in the temp JUPYTER_CONFIG_DIR).
LAB_USER_SETTINGS: dict[str, dict[str, Any]] = {
    # no "Would you like to receive official Jupyter news?" toast, no update check, no toasts
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # every cell stays in the DOM (no virtual scrolling), so prompts/outputs are all queryable
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
# and every output is rendered (JupyterLab's default renders 50 per cell and hides the rest
# behind "Show more outputs", where no test would see them; 0, "no limit" in the schema, hides
# every output in JupyterLab 4.6)
LAB_USER_SETTINGS["@jupyterlab/notebook-extension/tracker.jupyterlab-settings"][
    "maxNumberOutputs"] = 1_000_000
# Server-side config (temp JUPYTER_CONFIG_DIR/jupyter_server_config.json).
SERVER_CONFIG: dict[str, Any] = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "expose_app_in_browser": True,  # window.jupyterapp, handy for diagnostics
    },
    "ServerApp": {"open_browser": False},
}


# --------------------------------------------------------------------------- pytest hooks
def pytest_configure(config: pytest.Config) -> None:
    # Also registered in pyproject; repeated here so `-c /dev/null` runs stay warning-free.
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_grok_report_{report.when}", report)


def _failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(
        getattr(getattr(node, f"_grok_report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("GROK_BROWSER_REQUIRED") == "1":
        pytest.fail(f"{reason} (GROK_BROWSER_REQUIRED=1)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- the server
@dataclass
class Lab:
    """A running JupyterLab server."""

    port: int
    token: str
    root: Path
    log_path: Path
    proc: subprocess.Popen = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/lab") -> str:
        """Absolute URL for ``path`` with the token appended."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        """Call the server's REST API (``path`` like ``/api/sessions``); returns parsed JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def write_notebook(self, name: str, cells: Sequence[str | dict]) -> Path:
        return write_notebook(self.root, name, cells)

    def shutdown_sessions(self) -> None:
        """Close every notebook session (and so its kernel): keeps memory flat across tests."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
        except (OSError, urllib.error.URLError):
            pass

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no server log>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (server shuts its kernels down), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_ready(lab: Lab) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    url = lab.url("/api/status")
    while time.monotonic() < deadline:
        if lab.proc.poll() is not None:
            raise RuntimeError(
                f"jupyterlab exited with {lab.proc.returncode} before it was ready:\n"
                + lab.log_tail()
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"jupyterlab not ready after {SERVER_START_TIMEOUT_S}s:\n" + lab.log_tail()
    )


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root, config_dir, data_dir, runtime_dir, ipython_dir = (
        base / d for d in ("root", "config", "data", "runtime", "ipython")
    )
    for d in (root, config_dir, data_dir, runtime_dir, ipython_dir):
        d.mkdir()
    settings_dir = config_dir / "lab" / "user-settings"
    for rel, value in LAB_USER_SETTINGS.items():
        p = settings_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value, indent=2))
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG, indent=2))

    env = dict(os.environ)  # the kernel inherits XAI_BASE_URL / XAI_API_KEY from here
    env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_DATA_DIR=str(data_dir),
        JUPYTER_RUNTIME_DIR=str(runtime_dir),
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTERLAB_WORKSPACES_DIR=str(config_dir / "lab" / "workspaces"),
        IPYTHONDIR=str(ipython_dir),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)

    port = _free_port()
    log_path = base / "jupyterlab.log"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ip", "127.0.0.1", "--port", str(port), "--port-retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=root, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    lab = Lab(port=port, token=TOKEN, root=root, log_path=log_path, proc=proc)
    try:
        _wait_ready(lab)
        yield lab
    finally:
        lab.shutdown_sessions()
        _stop(proc)


# --------------------------------------------------------------------------- the browser
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        _browser_unavailable(f"{CHROMIUM} not found (apt-get install -y chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the environment
        _browser_unavailable(f"playwright not importable: {exc}")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    d = ARTIFACTS / safe
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def page(
    browser: Any, jupyterlab: Lab, artifacts_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    pg._grok_artifacts = artifacts_dir  # used by screenshot()
    try:
        yield pg
    finally:
        if _failed(request):
            try:
                pg.screenshot(path=str(artifacts_dir / "failure.png"), full_page=True)
            except Exception as exc:  # noqa: BLE001 - best effort
                console.append(f"[harness] failure screenshot failed: {exc}")
            (artifacts_dir / "console.log").write_text("\n".join(console))
            print(f"--- browser console (also in {artifacts_dir}) ---")
            print("\n".join(console[-60:]))
            print("--- jupyterlab server log (tail) ---")
            print(jupyterlab.log_tail())
        context.close()
        jupyterlab.shutdown_sessions()


# --------------------------------------------------------------------------- helpers
def write_notebook(root: Path | str, name: str, cells: Sequence[str | dict]) -> Path:
    """Write ``root/name`` as an nbformat-4 notebook and return its path.

    A ``str`` is a code cell; a ``dict`` with ``cell_type`` (e.g.
    ``{"cell_type": "markdown", "source": "..."}`` or with ``"metadata": {"tags": [...]}``)
    becomes that cell.
    """
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        if isinstance(cell, str):
            nb.cells.append(v4.new_code_cell(cell))
        else:
            kind = cell.get("cell_type", "code")
            extra = {k: v for k, v in cell.items() if k not in ("cell_type", "source")}
            maker = {"code": v4.new_code_cell, "markdown": v4.new_markdown_cell,
                     "raw": v4.new_raw_cell}[kind]
            nb.cells.append(maker(cell.get("source", ""), **extra))
    nbformat.validate(nb)
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def open_notebook(page: Any, lab: Lab, name: str, *, wait_idle: bool = True) -> None:
    """Open ``name`` (relative to the lab root) in a clean workspace; wait for an idle kernel."""
    from urllib.parse import quote

    # `reset` drops the workspace the previous test left behind (its open tabs)
    page.goto(lab.url(f"/lab/tree/{quote(name)}?reset"))
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(state="visible")
    if wait_idle:
        wait_kernel_idle(page)


def kernel_status(page: Any):
    """Locator of the status bar item that reads e.g. ``Python 3 (ipykernel) | Idle``."""
    return page.locator(
        "#jp-main-statusbar .jp-StatusBar-TextItem[title^='Change kernel']"
    ).first


def wait_kernel_idle(
    page: Any, timeout: float = 90_000, kernel: str = KERNEL_DISPLAY_NAME
) -> None:
    """Wait for the status bar to read ``<kernel> | Idle``.

    Not ``.jp-Notebook-ExecutionIndicator``: it says idle while the kernel still starts.
    """
    from playwright.sync_api import expect

    expect(kernel_status(page)).to_have_text(f"{kernel} | Idle", timeout=timeout)


_PROMPTS_JS = """
() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
      .map(p => p.textContent.trim())
"""

_RUN_DONE_JS = r"""
([prev, expectError]) => {
  const prompts = [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  if (!prompts.length) return false;
  const nums = prompts.map(t => { const m = /^\[(\d+)\]:$/.exec(t); return m ? +m[1] : null; });
  if (prompts.some(t => t.includes('*'))) return false;
  if (expectError) return nums.some(n => n !== null && n > prev);
  return nums.every(n => n !== null && n > prev);
}
"""


def _max_execution_count(page: Any) -> int:
    nums = [int(m.group(1)) for t in page.evaluate(_PROMPTS_JS)
            if (m := re.match(r"^\[(\d+)\]:$", t))]
    return max(nums, default=0)


def run_all(page: Any, *, expect_error: bool = False, timeout: float = 120_000) -> None:
    """Run → Run All Cells, then wait until every code cell shows a fresh ``[n]:`` and the
    kernel is idle. ``expect_error=True``: a cell raises, so the cells after it stay unrun.
    """
    wait_kernel_idle(page)
    prev = _max_execution_count(page)
    page.locator("#jp-MainMenu .lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator("#jp-mainmenu-run .lm-Menu-item[data-type='command']").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
    ).click()
    page.wait_for_function(_RUN_DONE_JS, arg=[prev, expect_error], timeout=timeout)
    wait_kernel_idle(page, timeout=timeout)


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save ``tests/browser/artifacts/<test name>/<name>.png`` and return its path."""
    d: Path = getattr(page, "_grok_artifacts", ARTIFACTS / "_unnamed")
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name if name.endswith(".png") else f"{name}.png")
    page.screenshot(path=str(path), full_page=full_page)
    return path


def xss_fired(page: Any) -> bool:
    """True if page script set ``window.__grok_xss`` (payloads in tests do that)."""
    return page.evaluate("() => typeof window.__grok_xss !== 'undefined'")


# --------------------------------------------------------------------------- inert-output rules
# One element's checks, shared by the final scan (`output_violations`) and the MutationObserver
# that `watch_outputs` installs (which also sees elements that were shown for a moment only).
# Everything here is measured on the DOM the browser built, not on what a sanitiser returned.
_RULES_JS = r"""
(() => {
  if (window.__grokRules) return window.__grokRules;
  const BANNED = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet',
    'form', 'meta', 'link', 'base', 'portal', 'style', 'noscript', 'template', 'xmp',
    'plaintext', 'listing', 'isindex']);
  const MATHJAX_ONLY = new Set(['svg', 'math']);  // MathJax's own, inside mjx-container only
  const NOT_IN_ANSWERS = new Set(['input', 'button', 'textarea', 'select', 'video', 'audio',
    'source', 'track', 'picture', 'dialog', 'marquee', 'canvas']);
  const URL_ATTRS = new Set(['href', 'src', 'srcset', 'action', 'formaction', 'data', 'poster',
    'background', 'lowsrc', 'dynsrc', 'ping', 'srcdoc', 'codebase', 'cite', 'longdesc',
    'usemap', 'manifest', 'icon', 'xlink:href']);
  // whitespace and control characters, which URL parsers drop or skip before a scheme
  const STRIP = new RegExp('[\\u0000-\\u0020\\u007f-\\u009f\\u00a0\\u1680\\u2000-\\u200f'
    + '\\u2028-\\u202f\\u205f-\\u2064\\u3000\\ufeff]', 'g');
  const BAD_SCHEME = /^(javascript|vbscript|data):/;
  const BAD_STYLE = /url\s*\(|expression\s*\(|@import|image-set/i;
  const OVERLAY = /position\s*:\s*(fixed|absolute|sticky)/i;  // MathJax measures with absolute boxes
  const where = (el) => {
    const cell = el.closest && el.closest('.jp-Cell');
    const cells = cell ? [...cell.parentElement.children].filter(
      c => c.classList.contains('jp-Cell')) : [];
    const html = (el.outerHTML || '').slice(0, 160);
    return `cell ${cell ? cells.indexOf(cell) : '?'}: ${html}`;
  };
  function check(el, cfg, out, context) {
    if (!el || el.nodeType !== 1) return;
    const allowed = cfg.images || [];
    const ctx = context || el;
    const tag = el.localName;
    // ctx: where a node was added (it may have been removed again before the observer ran)
    const within = (sel) => !!(el.closest(sel) || (ctx !== el && ctx.closest && ctx.closest(sel)));
    const inMath = within('mjx-container');
    const inAnswer = within('.grok-md');
    const ownStyle = tag === 'style' && !inAnswer
      && (cfg.styles || []).includes((el.textContent || '').trim());
    if (BANNED.has(tag) && !ownStyle) out.push(`<${tag}> element: ${where(el)}`);
    if (MATHJAX_ONLY.has(tag) && !inMath) out.push(`<${tag}> outside MathJax: ${where(el)}`);
    if (inAnswer && NOT_IN_ANSWERS.has(tag)) out.push(`<${tag}> in an answer: ${where(el)}`);
    for (const a of [...el.attributes]) {
      const name = a.name.toLowerCase();
      if (name.startsWith('on')) out.push(`${name} attribute: ${where(el)}`);
      if (name === 'srcdoc') out.push(`srcdoc attribute: ${where(el)}`);
      if (URL_ATTRS.has(name) || name.endsWith(':href')) {
        const v = a.value.replace(STRIP, '').toLowerCase();
        if (BAD_SCHEME.test(v)) out.push(`${name}=${JSON.stringify(a.value.slice(0, 60))}: ${where(el)}`);
      }
      if (name === 'style' && inAnswer && (BAD_STYLE.test(a.value)
          || (OVERLAY.test(a.value) && !inMath && !tag.startsWith('mjx-'))))
        out.push(`style ${JSON.stringify(a.value.slice(0, 80))}: ${where(el)}`);
    }
    if (tag === 'img') {
      const src = el.getAttribute('src') || '';
      // In an answer only images the user sent; elsewhere (widgets: thumbnails) blob: too.
      if (!(allowed.includes(src) || (!inAnswer && src.startsWith('blob:'))))
        out.push(`img src ${JSON.stringify(src.slice(0, 80))} not sent by the user: ${where(el)}`);
    }
    if (tag === 'mjx-container' && !el.closest('.grok-math'))
      out.push(`MathJax typeset outside vetted math: ${where(el)}`);
    if (tag === 'a' && inMath) out.push(`link inside typeset math: ${where(el)}`);
  }
  function scan(root, cfg, out, context) {
    if (!root || root.nodeType !== 1) return;
    check(root, cfg, out, context);
    for (const el of root.querySelectorAll('*')) check(el, cfg, out, context);
  }
  window.__grokRules = { check, scan };
  return window.__grokRules;
})()
"""

_SCAN_OUTPUTS_JS = (
    "(cfg) => { const rules = " + _RULES_JS + "; const out = [];"
    " for (const area of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output'))"
    " rules.scan(area, cfg, out); return out; }"
)

_WATCH_JS = """
(() => {
  const cfg = %s;
  window.__grokViolations = [];
  const start = () => {
    const rules = %s;
    const inOutputs = (n) => n && n.nodeType === 1 && !!n.closest('.jp-OutputArea-output');
    const note = (list) => { for (const v of list) if (window.__grokViolations.length < 500)
      window.__grokViolations.push(v); };
    new MutationObserver((records) => {
      for (const r of records) {
        const target = r.target;
        if (r.type === 'attributes') {
          if (inOutputs(target)) { const out = []; rules.check(target, cfg, out); note(out); }
          continue;
        }
        for (const node of r.addedNodes) {
          if (node.nodeType !== 1) continue;
          if (inOutputs(node) || inOutputs(target)) {
            const out = []; rules.scan(node, cfg, out, target); note(out);
          }
        }
      }
    }).observe(document, { subtree: true, childList: true, attributes: true });
  };
  if (document.documentElement) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
"""


def stylesheets(*markup: str) -> list[str]:
    """The text of every <style> element in `markup` (grok_magic's own CSS), as the DOM has it."""
    return [m.strip() for part in markup for m in re.findall(r"<style>(.*?)</style>", part, re.S)]


def _rules_config(allowed_images: Sequence[str], own_styles: Sequence[str]) -> dict:
    # An answer's container always carries ANSWER_CSS (outside the model's .grok-md block).
    from grok_magic.notebook.display import ANSWER_CSS

    styles = [s.strip() for s in own_styles] + stylesheets(ANSWER_CSS)
    return {"images": list(allowed_images), "styles": styles}


def output_violations(
    page: Any, allowed_images: Sequence[str] = (), own_styles: Sequence[str] = ()
) -> list[str]:
    """Every breach of the inert-output rules in the notebook's outputs (every
    ``.jp-OutputArea-output``: what cells displayed, widgets included, not JupyterLab's own
    prompts and icons), now: script,
    iframe, object, embed, form, style, meta, link, base elements; svg/math outside MathJax's
    mjx-container; on* attributes; href/src/... that are javascript:, vbscript: or data: once
    whitespace and control characters are removed; an img whose src the user did not send;
    MathJax output outside the vetted `.grok-math` spans, or links inside it. ``own_styles``:
    the exact text of grok_magic's own stylesheets (e.g. the panel's), allowed outside the model's
    `.grok-md` blocks (ANSWER_CSS, in every answer's container, always is)."""
    return page.evaluate(_SCAN_OUTPUTS_JS, _rules_config(allowed_images, own_styles))


def watch_outputs(
    page: Any, allowed_images: Sequence[str] = (), own_styles: Sequence[str] = ()
) -> None:
    """Before `open_notebook`: record every rule breach the moment it enters an output area
    (also ones that vanish again while an answer streams); read them with `watched_violations`."""
    page.add_init_script(
        _WATCH_JS % (json.dumps(_rules_config(allowed_images, own_styles)), _RULES_JS))


def watched_violations(page: Any) -> list[str]:
    return page.evaluate("() => window.__grokViolations || null")


def record_dialogs(page: Any) -> list[str]:
    """A list that collects (and dismisses) every alert/confirm/prompt/beforeunload dialog."""
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        try:
            dialog.dismiss()
        except Exception:  # noqa: BLE001 - the page may be closing
            pass

    page.on("dialog", on_dialog)
    return dialogs


def pwned(page: Any) -> dict:
    """What payloads set: ``window.__pwned`` and ``window.__grok_xss`` (both must stay unset)."""
    return page.evaluate(
        "() => ({pwned: typeof window.__pwned === 'undefined' ? null : String(window.__pwned),"
        " grok_xss: typeof window.__grok_xss === 'undefined' ? null : String(window.__grok_xss)})"
    )


def assert_nothing_ran(page: Any, allowed_images: Sequence[str] = (),
                       own_styles: Sequence[str] = ()) -> None:
    """No payload ran (no flag set, no XSS marker) and every output obeys the inert DOM rules,
    now and at every moment the MutationObserver saw (see `watch_outputs`)."""
    assert pwned(page) == {"pwned": None, "grok_xss": None}
    assert not xss_fired(page)
    assert output_violations(page, allowed_images, own_styles) == []
    assert watched_violations(page) == []

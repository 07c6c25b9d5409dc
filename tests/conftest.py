"""Pytest plumbing: one local xAI stand-in for the whole session, and a clean environment.

The stand-in starts in `pytest_configure` (not in a fixture) because nbval notebook items and
Jupyter kernels run no fixtures: they inherit XAI_BASE_URL / XAI_API_KEY from os.environ.
Each test, however, runs with every XAI_* variable removed, HOME in a temp folder and the
working directory in tmp_path (no real .env or config is picked up); tests that need the
stand-in use the `xai_env` fixture or set the variables themselves.
"""

from __future__ import annotations

import os
import signal
import tempfile

import pytest

from tests.support.inert_check import node_ok  # noqa: F401 - a fixture every test may ask for
from tests.support.kernel_helpers import kernel, lab  # noqa: F401 - a real kernel per module
from tests.support.xai_standin import FAKE_KEY, XaiStandin

_STANDIN: XaiStandin | None = None
LEDGER_VARIABLES = ("GROK_LEDGER", "GROK_REPLAY", "XDG_DATA_HOME", "JPY_SESSION_NAME")
_SAVED_ENV: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    global _STANDIN
    if _STANDIN is not None:
        return
    srv = XaiStandin(api_key=FAKE_KEY).start()
    _STANDIN = srv
    config._xai_standin = srv  # type: ignore[attr-defined]
    # Kernels and nbval notebooks record to a throw-away ledger, never the user's own.
    ledger = os.path.join(tempfile.mkdtemp(prefix="grok-ledger-"), "ledger.sqlite")
    for name, value in (("XAI_BASE_URL", srv.base_url), ("XAI_API_KEY", FAKE_KEY),
                        ("GROK_LEDGER", ledger)):
        _SAVED_ENV[name] = os.environ.get(name)
        os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    global _STANDIN
    srv, _STANDIN = _STANDIN, None
    if srv is not None:
        srv.stop()
    for name, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _SAVED_ENV.clear()


def session_standin() -> XaiStandin:
    """The session's stand-in (started in pytest_configure)."""
    assert _STANDIN is not None, "the xAI stand-in was not started"
    return _STANDIN


@pytest.fixture
def xai_server() -> XaiStandin:
    """The session stand-in, reset (empty queue and request log) for this test."""
    srv = session_standin()
    srv.reset()
    yield srv
    srv.reset()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No XAI_* variables, no ledger or replay setting, HOME in a temp folder (so the ledger's
    default place is there), cwd = tmp_path; all restored afterwards."""
    for name in list(os.environ):
        if name.startswith("XAI_") or name in LEDGER_VARIABLES:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def xai_env(monkeypatch: pytest.MonkeyPatch, xai_server: XaiStandin) -> XaiStandin:
    """XAI_BASE_URL and XAI_API_KEY (FAKE_KEY) pointing at the reset session stand-in."""
    monkeypatch.setenv("XAI_BASE_URL", xai_server.base_url)
    monkeypatch.setenv("XAI_API_KEY", FAKE_KEY)
    return xai_server


@pytest.fixture
def client(xai_env):
    """A GrokClient for the stand-in that does not retry (tests see every failure)."""
    from grok_magic.settings import Settings
    from grok_magic.xai.client import GrokClient

    c = GrokClient(Settings.load(max_retries=0))
    yield c
    c.close()


@pytest.fixture
def fake_key() -> str:
    return FAKE_KEY


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler (KeyboardInterrupt) for this test; the old one afterwards.

    A shell starts background jobs (`cmd &`) with SIGINT ignored, and the interpreter keeps it
    that way, so a test that sends SIGINT (or calls `_thread.interrupt_main`) installs the
    default handler itself instead of relying on how pytest was started.
    """
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.fixture
def ledger_path(tmp_path, monkeypatch):
    """A temporary ledger, the one GROK_LEDGER names."""
    path = tmp_path / "ledger.sqlite"
    monkeypatch.setenv("GROK_LEDGER", str(path))
    return path


@pytest.fixture
def ledger_shell(xai_env, ledger_path):
    """A shell with fresh GrokMagics (no retries) recording in `ledger_path`."""
    from tests.support.magic_helpers import close_ledger, magic_shell

    shell_ = magic_shell(max_retries=0)
    yield shell_
    close_ledger(shell_)

"""`python -m grok_magic.quickstart`: the JupyterLab command it builds (root or not), how it finds
the notebook, its messages, and a real server started through it (as root on CI: --allow-root)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from grok_magic import quickstart

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "notebooks" / "01-quickstart.ipynb"
NB = Path("notebooks", "01-quickstart.ipynb")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A folder laid out like the repository, holding only the quickstart notebook."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(QUICKSTART, root / NB)
    return root


@pytest.mark.parametrize(("euid", "allow_root"), [(0, True), (1000, False)], ids=["root", "user"])
def test_command_adds_allow_root_only_for_root(monkeypatch, euid, allow_root):
    monkeypatch.setattr(os, "geteuid", lambda: euid, raising=False)
    argv = quickstart.command(NB, ["--no-browser", "--port", "8899"])
    expected = [sys.executable, "-m", "jupyterlab", str(NB)]
    if allow_root:
        expected.append("--allow-root")
    expected.append(f"--LabApp.default_url=/lab/tree/{NB.name}")  # the printed URL: the notebook's
    assert argv == [*expected, "--no-browser", "--port", "8899"]
    assert quickstart.command(NB) == expected


def test_a_root_dir_given_by_hand_keeps_jupyterlab_s_own_url():
    argv = quickstart.command(NB, ["--ServerApp.root_dir=/data"])
    assert not any("default_url" in a for a in argv)


def test_allow_root_given_by_hand_is_not_repeated(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    assert quickstart.command(NB, ["--allow-root"]).count("--allow-root") == 1


@pytest.mark.parametrize("cwd", [".", "notebooks", "notebooks/deeper"])
def test_main_finds_the_notebook_here_or_above_and_execs_jupyterlab(monkeypatch, repo_copy, cwd):
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    (repo_copy / cwd).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(repo_copy / cwd)
    calls = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: calls.append((exe, argv)))
    quickstart.main(["--no-browser"])
    notebook = str(repo_copy / NB)
    assert calls == [(sys.executable,
                      [sys.executable, "-m", "jupyterlab", notebook, "--allow-root",
                       f"--LabApp.default_url=/lab/tree/{NB.name}", "--no-browser"])]


def test_an_editable_install_finds_the_notebook_of_its_source_tree(tmp_path):
    assert tmp_path.resolve() not in QUICKSTART.parents
    assert quickstart.find_notebook(tmp_path) == QUICKSTART


def test_missing_notebook_is_one_clear_paragraph(monkeypatch, tmp_path):
    monkeypatch.setattr(quickstart, "__file__", str(tmp_path / "site" / "grok_magic" / "quickstart.py"))
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("must not start JupyterLab"))
    with pytest.raises(SystemExit) as info:
        quickstart.main([])
    message = str(info.value.code)
    assert "notebooks/01-quickstart.ipynb was not found" in message and "\n" not in message
    assert str(tmp_path) in message and "clone of the repository" in message


def test_missing_jupyterlab_names_the_install_command(monkeypatch, repo_copy):
    monkeypatch.chdir(repo_copy)
    real_find_spec = quickstart.importlib.util.find_spec
    monkeypatch.setattr(quickstart.importlib.util, "find_spec",
                        lambda name, *a: None if name == "jupyterlab" else real_find_spec(name, *a))
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("must not start JupyterLab"))
    with pytest.raises(SystemExit) as info:
        quickstart.main([])
    assert "JupyterLab is not installed" in info.value.code
    assert 'python -m pip install -e ".[notebook]"' in info.value.code


def test_importing_it_loads_no_notebook_front_end():
    probe = ("import json, sys, grok_magic.quickstart\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    loaded = set(json.loads(out))
    assert not loaded & {"IPython", "ipywidgets", "jupyterlab", "jupyter_server", "traitlets"}


# -- a real server, started the way the README says ------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.skipif(os.name == "nt", reason="process groups and exec are POSIX")
def test_quickstart_starts_a_real_jupyterlab_on_the_notebook(tmp_path, repo_copy):
    jupyter = {name: tmp_path / name for name in ("config", "data", "runtime", "ipython")}
    for folder in jupyter.values():
        folder.mkdir()
    # No news or update checks (no network), as in tests/browser/conftest.py.
    (jupyter["config"] / "jupyter_server_config.json").write_text(json.dumps({"LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"}}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(jupyter["config"]),
           "JUPYTER_DATA_DIR": str(jupyter["data"]), "JUPYTER_RUNTIME_DIR": str(jupyter["runtime"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(jupyter["config"] / "lab" / "workspaces"),
           "IPYTHONDIR": str(jupyter["ipython"]), "PYTHONUNBUFFERED": "1"}
    env.pop("JUPYTER_TOKEN", None)
    token, port = "grok-quickstart-test", free_port()
    log_path = tmp_path / "lab.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grok_magic.quickstart", "--no-browser", "--ip", "127.0.0.1",
             "--port", str(port), "--port-retries=0", f"--IdentityProvider.token={token}",
             "--ServerApp.open_browser=False"],
            cwd=repo_copy, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    # JupyterLab serves the notebook's folder, as `python -m jupyterlab notebooks/...` does.
    url = f"http://127.0.0.1:{port}/api/contents/{NB.name}?token={token}"
    model, deadline = None, time.monotonic() + 45
    try:
        while model is None and time.monotonic() < deadline:
            assert proc.poll() is None, f"exited with {proc.returncode}:\n{log_path.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    model = json.loads(response.read())
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
    finally:
        stop_group(proc)
    log = log_path.read_text(errors="replace")
    assert model is not None, f"no answer from {url} in 45 s:\n{log}"
    assert model["type"] == "notebook" and model["path"] == NB.name
    def cells(nb):  # the server joins each cell's list of source lines into one string
        return [(c["id"], "".join(c["source"])) for c in nb["cells"]]

    assert cells(model["content"]) == cells(json.loads(QUICKSTART.read_text()))
    assert "Running as root is not recommended" not in log
    # The URL it prints opens the notebook itself (the remote and container case), not the
    # Launcher; the token is one given on the command line, so the server shows it as "...".
    assert f"http://127.0.0.1:{port}/lab/tree/{NB.name}?token=..." in log, log
    assert f"http://127.0.0.1:{port}/lab?token" not in log
    assert proc.returncode is not None

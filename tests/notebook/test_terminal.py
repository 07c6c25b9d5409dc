"""Terminal IPython: the answer prints as plain text and the usage as one line, no widgets."""

from __future__ import annotations

import subprocess
import sys

from tests.support.xai_standin import FAKE_KEY


def test_terminal_ipython_prints_plain_text(xai_env, tmp_path):
    script = tmp_path / "ask.ipy"
    script.write_text("%load_ext grok_magic\n%grok Say hi in Portuguese, please.\n")
    env = {"XAI_BASE_URL": xai_env.base_url, "XAI_API_KEY": FAKE_KEY, "HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor",
                             str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Stand-in answer" in out and "Say hi in Portuguese" in out
    assert "tokens · model: grok-4.3" in out
    assert "widget" not in out.lower() and "text/markdown" not in out
    assert FAKE_KEY not in out + result.stderr

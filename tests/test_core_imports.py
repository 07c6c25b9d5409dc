"""The core imports neither IPython nor ipywidgets, and `import grok_magic` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "grok_magic"
# The core is every module at the top of the package; the front lives in grok_magic/notebook/.
CORE = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
# Front modules that hold logic every view shares, and so stay free of widgets and IPython too.
WIDGET_FREE_FRONT = ["notebook.answer_view"]
HEAVY = ["IPython", "ipywidgets", "ipykernel", "traitlets"]


def imported_after(code: str) -> set[str]:
    """The top-level module names loaded by `code` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_import_grok_magic_is_light():
    loaded = imported_after("import grok_magic")
    for name in [*HEAVY, "requests", "urllib3", "PIL", "dotenv", "nh3"]:
        assert name not in loaded, f"`import grok_magic` imported {name}"


@pytest.mark.parametrize("module", CORE + WIDGET_FREE_FRONT)
def test_core_module_does_not_import_the_front(module):
    loaded = imported_after(f"import grok_magic.{module}")
    for name in HEAVY:
        assert name not in loaded, f"grok_magic.{module} imported {name}"


def test_all_core_modules_together_and_a_client():
    code = "import " + ", ".join(f"grok_magic.{m}" for m in CORE)
    code += "\nfrom grok_magic import GrokClient, Settings, Conversation, Response, Usage, GrokError"
    code += "\nGrokClient(Settings(api_key='xai-0123456789abcdef')).session"
    loaded = imported_after(code)
    assert "requests" in loaded  # the session exists: requests came in on first use only
    for name in HEAVY:
        assert name not in loaded


def test_sse_imports_no_http_library():
    loaded = imported_after("import grok_magic.xai.sse")
    assert "requests" not in loaded and "urllib3" not in loaded


def test_the_core_is_what_it_was_meant_to_be():
    for name in ("client", "markdown", "redaction", "pricing", "chat", "conversation", "prompt"):
        assert name in CORE


def test_only_the_notebook_package_imports_ipython_or_widgets():
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        if "notebook" in path.relative_to(PACKAGE).parts:
            continue
        for name in ("IPython", "ipywidgets", "traitlets", "anywidget"):
            assert f"import {name}" not in source and f"from {name}" not in source, (path, name)

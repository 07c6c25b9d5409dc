"""The core imports neither IPython nor ipywidgets, and `import grok_magic` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "grok_magic"
# The core is every module outside grok_magic/notebook/ (the front), in every layer.
CORE = sorted(".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
              for p in PACKAGE.rglob("*.py")
              if p.relative_to(PACKAGE).parts[0] != "notebook" and p.name != "__init__.py"
              or p.parent != PACKAGE and p.name == "__init__.py" and "notebook" not in p.parts)
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
    for name in ("xai.client", "safety.markdown", "safety.redaction", "xai.pricing", "chat",
                 "conversation", "inputs.prompt", "ledger.store", "runs.each", "inputs.images"):
        assert name in CORE


def test_only_the_notebook_package_imports_ipython_or_widgets():
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        if "notebook" in path.relative_to(PACKAGE).parts:
            continue
        for name in ("IPython", "ipywidgets", "traitlets", "anywidget"):
            assert f"import {name}" not in source and f"from {name}" not in source, (path, name)


def test_load_ext_imports_only_what_registers_the_magics():
    """%load_ext leaves the client, renderer, images, ledger and runs for the first cell."""
    probe = ("from IPython.core.interactiveshell import InteractiveShell\n"
             "ip = InteractiveShell.instance()\nip.run_line_magic('load_ext', 'grok_magic')\n"
             "import json, sys\nprint(json.dumps(sorted(m for m in sys.modules "
             "if m.startswith('grok_magic'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "grok_magic.notebook.magics" in loaded  # it did load
    for module in ("grok_magic.xai.client", "grok_magic.safety.markdown", "grok_magic.inputs.images",
                   "grok_magic.ledger.store", "grok_magic.ledger.recorder", "grok_magic.runs.each",
                   "grok_magic.conversation", "grok_magic.notebook.display"):
        assert module not in loaded, f"%load_ext imported {module}"


def test_every_name_of_the_package_front_door_imports():
    """`from grok_magic import …` works for every name it lists, without IPython for the core."""
    import grok_magic

    for name in grok_magic.__all__:
        assert getattr(grok_magic, name) is not None, name
    loaded = imported_after("from grok_magic import GrokClient, Ask, Conversation, ask_each, Each, "
                            "Ledger, BatchJob, build_user_turn, encode_image, is_image_like")
    for name in HEAVY:
        assert name not in loaded

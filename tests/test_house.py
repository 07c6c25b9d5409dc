"""The house stays readable: no module over 600 lines, no class over 250 in grok_magic/."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "grok_magic"
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 250


def test_modules_and_classes_stay_small():
    too_big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES:
            too_big.append(f"{path.name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    too_big.append(f"{path.name}:{node.name}: {size} lines")
    assert too_big == []

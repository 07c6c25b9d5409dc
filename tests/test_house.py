"""The house by layers: every import (module level, in a function, or for type checking only) runs
down or sideways within a layer, never up and never round in a circle; no module takes another's
private names; no module over 600 lines and no class over 250.

Run `python tests/test_house.py` to print the layers and every arrow that breaks them.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "grok_magic"
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 250

# From the floor up. A module may import from its own layer and from any layer below; a name
# ending in "." holds a whole subpackage. The package's own __init__ sits above everything.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("safety", ("grok_magic.safety.",)),
    ("base", ("grok_magic._version", "grok_magic.errors", "grok_magic.private_files",
              "grok_magic.model_names", "grok_magic.settings")),
    ("xai", ("grok_magic.xai.",)),
    ("inputs", ("grok_magic.inputs.",)),
    ("ask", ("grok_magic.ask", "grok_magic.imagine")),
    ("ledger", ("grok_magic.ledger.",)),
    ("conversation", ("grok_magic.conversation",)),
    ("chat", ("grok_magic.chat",)),
    ("runs", ("grok_magic.runs.",)),
    ("notebook", ("grok_magic.notebook.", "grok_magic.quickstart")),
    ("package", ("grok_magic",)),
]
# Private attributes of the standard library that are its public API in all but name.
STDLIB_PRIVATE = {"_replace", "_asdict", "_fields", "_exit", "_getframe", "_MAXLINE", "_MAXHEADERS",
                  "_method"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    for rank, (_, members) in enumerate(LAYERS):
        for member in members:
            if module == member or (member.endswith(".") and module.startswith(member)):
                return rank
            if member.endswith(".") and module == member[:-1]:
                return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_house.py")


def resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of grok_magic in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("grok_magic")]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, path, node)
            if not target.startswith("grok_magic"):
                continue
            names = []
            for alias in node.names:
                if f"{target}.{alias.name}" in known:  # `from pkg import submodule`
                    found.append((f"{target}.{alias.name}", [], node.lineno))
                else:
                    names.append(alias.name)
            if names or target not in known:
                found.append((target, names, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for target, _, _ in imports(module, path, known):
            if target in known and target != module:
                edges[module].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def upward_arrows(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            if module.startswith(target + ".") or target == module:
                continue  # a module's own package __init__ runs first anyway
            if layer_of(target) > layer_of(module):
                found.append(f"{module} -> {target}")
    return found


def subpackage_inits_up(edges: dict[str, set[str]]) -> list[str]:
    """Modules inside a package that import the package's own __init__ (the floor above them)."""
    known = modules()
    return [f"{m} -> {t}" for m, ts in sorted(edges.items()) for t in sorted(ts)
            if known[t].name == "__init__.py" and m.startswith(t + ".")]


def private_names() -> list[str]:
    """Private names imported from another module, and private attributes used where not defined."""
    known = modules()
    found = []
    for module, path in known.items():
        for target, names, line in imports(module, path, known):
            found += [f"{module}:{line} imports {n} from {target}" for n in names
                      if n.startswith("_") and not n.startswith("__")]
        tree = ast.parse(path.read_text())
        defined = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined.add(node.target.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                defined.add(node.value)  # __slots__ entries, getattr names
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr not in defined and node.attr not in STDLIB_PRIVATE):
                found.append(f"{module}:{node.lineno} reads .{node.attr}, defined elsewhere")
    return found


def too_big() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        name = path.relative_to(ROOT)
        if source.count("\n") > MAX_MODULE_LINES:
            found.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    found.append(f"{name}:{node.name}: {size} lines")
    return found


def test_every_module_is_in_a_layer():
    for module in modules():
        layer_of(module)


def test_no_circles():
    assert circles(graph()) == []


def test_no_arrow_runs_up():
    edges = graph()
    assert upward_arrows(edges) + subpackage_inits_up(edges) == []


def test_no_private_names_across_modules():
    assert private_names() == []


def test_modules_and_classes_stay_small():
    assert too_big() == []


def test_every_subpackage_says_what_it_holds_and_may_import():
    for path in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert doc, f"{path.relative_to(ROOT)} has no docstring"
        if path.parent != PACKAGE:
            assert "import" in doc, f"{path.relative_to(ROOT)} does not say what it may import"


def test_the_checks_can_fail(tmp_path):
    """The circle and layer rules catch what they are meant to (on a made-up graph)."""
    edges = {"grok_magic.xai.client": {"grok_magic.ledger.store"}, "grok_magic.ledger.store": set(),
             "grok_magic.conversation": {"grok_magic.chat"}, "grok_magic.chat": {"grok_magic.conversation"}}
    assert circles(edges) == [["grok_magic.chat", "grok_magic.conversation"]]
    assert "grok_magic.xai.client -> grok_magic.ledger.store" in upward_arrows(edges)


if __name__ == "__main__":
    edges = graph()
    for rank, (name, members) in enumerate(LAYERS):
        print(f"{rank:2} {name:13} {', '.join(members)}")
    for title, rows in [("circles", [" ".join(c) for c in circles(edges)]),
                        ("upward", upward_arrows(edges) + subpackage_inits_up(edges)),
                        ("private", private_names()), ("too big", too_big())]:
        print(f"\n{title}: {len(rows)}")
        print("\n".join("  " + r for r in rows))
    sys.exit(0)

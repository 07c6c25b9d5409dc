"""The README's test command is the one CI runs, and CI's oldest run pins exactly the lower
bounds that pyproject.toml declares (so every bound we claim is one we test)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CI = (ROOT / ".ci" / "run").read_text()
README = (ROOT / "README.md").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONSTRAINTS = ROOT / "tests" / "constraints-oldest.txt"


def ci_array(name: str) -> list[str]:
    [words] = re.findall(rf"^{name}=\((.*)\)$", CI, re.M)
    return shlex.split(words)


def readme_test_command() -> str:
    """The second ```bash block near the top of the README (the first installs and opens)."""
    blocks = re.findall(r"^```bash\n(.*?)\n```$", README, re.M | re.S)
    return blocks[1]


def pins() -> dict[str, Version]:
    found = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            found[canonicalize_name(name)] = Version(version)
    return found


def test_the_readme_runs_the_ci_test_command_in_a_fresh_venv_of_a_named_python():
    command = readme_test_command()
    assert "\n" not in command  # one command, to copy whole
    steps = command.split(" && ")
    assert steps[-1] == shlex.join(ci_array("TEST_CMD"))  # verbatim, as .ci/run says
    venv = next(s for s in steps if " -m venv " in s)
    python = re.fullmatch(r"python3\.(\d+) -m venv \.venv", venv)
    assert python and int(python[1]) >= 10, venv
    assert steps.index(venv) + 1 == steps.index(". .venv/bin/activate")
    assert steps.index(". .venv/bin/activate") < steps.index('python -m pip install -e ".[test]"')
    assert f"(3.{python[1]}) in a fresh" in " ".join(README.split())  # the paragraph says so


def test_the_oldest_run_is_on_the_lowest_python_we_claim():
    [oldest] = re.findall(r'^OLDEST_PYTHON=(3\.\d+)', CI, re.M)
    assert PROJECT["requires-python"] == f">={oldest}"
    assert f"Python {oldest}" in " ".join(README.split())
    assert ci_array("OLDEST_CMD")[:3] == ["python", "-m", "pytest"]
    assert 'run_env oldest "$OLDEST_PY" -c "$CONSTRAINTS"' in CI
    assert "CONSTRAINTS=tests/constraints-oldest.txt" in CI


def test_each_lower_bound_is_pinned_in_the_oldest_constraints_and_nothing_else():
    pinned = pins()
    bounds = {}
    for text in PROJECT["dependencies"]:
        requirement = Requirement(text)
        [lower] = [s.version for s in requirement.specifier if s.operator == ">="]
        bounds[canonicalize_name(requirement.name)] = Version(lower)
    assert pinned == bounds

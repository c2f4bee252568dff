"""The test suite's own layout: tests mirror ``src/ophis`` package by package, and test
modules share code only through ``ophis.testing`` (fixtures through conftest.py files), so
that no test depends on another test module's insides."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
PACKAGES = TESTS.parent / "src" / "ophis"
#: exercised by every test rather than tested on its own
UNMIRRORED = {"testing"}


def _packages(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.py"))}


def _imports_of_tests(path: Path) -> list[str]:
    """The imports in ``path`` that reach into the test suite: ``tests.*`` or relative."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append(f"{path.relative_to(TESTS)}:{node.lineno} from {'.' * node.level}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tests":
            found.append(f"{path.relative_to(TESTS)}:{node.lineno} from {node.module}")
        elif isinstance(node, ast.Import):
            found += [
                f"{path.relative_to(TESTS)}:{node.lineno} import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] == "tests"
            ]
    return found


def test_no_test_module_imports_another() -> None:
    found = [line for path in sorted(TESTS.rglob("*.py")) for line in _imports_of_tests(path)]
    assert found == [], (
        "Test code is shared through ophis.testing (and fixtures through conftest.py), "
        "never by importing a test module: move these helpers to src/ophis/testing/:\n"
        + "\n".join(found)
    )


def test_tests_mirror_the_packages() -> None:
    packages = _packages(PACKAGES) - UNMIRRORED
    folders = _packages(TESTS)
    assert packages - folders == set(), "add tests/<package>/ for each of these packages"
    assert folders - packages == set(), "these test folders name no package of src/ophis"

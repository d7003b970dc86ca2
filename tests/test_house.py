"""The house's rules, checked as CI checks everything: by running the project's own tools.

- the layers of ``.importlinter`` hold and no layer's modules import each other in a circle
  (``lint-imports``);
- the code is formatted as ``ruff format`` writes it, and ``ruff check`` and ``mypy`` pass.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The tool installed beside this interpreter (the test extra), else a skip saying how."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def check(*command: str) -> None:
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(command)}:\n{out.stdout}\n{out.stderr}"


def test_the_layers_hold_and_no_layer_imports_itself_in_a_circle() -> None:
    check(tool("lint-imports"), "--no-cache")


def test_the_code_is_formatted_by_ruff() -> None:
    check(tool("ruff"), "format", "--check", "src", "tests", "benchmarks", "docs")


def test_ruff_finds_nothing() -> None:
    check(tool("ruff"), "check", "src", "tests", "benchmarks", "docs")


def test_mypy_finds_nothing() -> None:
    check(tool("mypy"))


def test_every_module_of_the_package_says_what_it_exports() -> None:
    """``__all__`` in every module (the shipped example and templates are a user's code)."""
    package = ROOT / "src" / "snakesweep"
    missing = [
        str(p.relative_to(package))
        for p in sorted(package.rglob("*.py"))
        if p.name != "__main__.py"
        and not {"examples", "templates"} & set(p.relative_to(package).parts)
        and "__all__" not in p.read_text(encoding="utf-8")
    ]
    assert not missing, f"modules without __all__: {missing}"


def test_no_module_imports_the_package_inside_a_function() -> None:
    """Imports of snakesweep's own modules sit at the top of their modules, where the layers
    can be read (a deferred import is for a heavy third-party library only)."""
    found = []
    for path in sorted((ROOT / "src" / "snakesweep").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                if any(n == "snakesweep" or n.startswith("snakesweep.") for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"imports of snakesweep inside functions: {found}"

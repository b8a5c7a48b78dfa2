"""The core must stay pure: no module in src/kalshibot/core imports I/O, clocks or randomness (AST scan)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "src" / "kalshibot" / "core"
FORBIDDEN = {
    "asyncio",
    "httpx",
    "websockets",
    "structlog",
    "time",
    "random",
    "datetime",
    "socket",
    "os",
    "threading",
}
FORBIDDEN_CALLS = {"open", "input", "print"}


def _modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_has_modules() -> None:
    assert len(_modules()) >= 3


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN]
        elif isinstance(node, ast.ImportFrom):
            if node.module and node.module.split(".")[0] in FORBIDDEN:
                bad.append(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            bad.append(f"{node.func.id}() at line {node.lineno}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            bad.append(f"__import__ at line {node.lineno}")
    assert not bad, f"{path.name} is not pure: {bad}"


def test_scanner_catches_a_clock(tmp_path: Path) -> None:
    """The scan itself works: a module that reads the clock is caught."""
    src = "import time\nfrom datetime import datetime\nx = time.time()\n"
    tree = ast.parse(src)
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert {"time", "datetime"} <= set(names) & FORBIDDEN

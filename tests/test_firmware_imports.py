"""The firmware imports only modules MicroPython on the Pico has (mpy-cross does not check that)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware_bridge"
HOST_ONLY = {"virtual.py", "names.py", "hal_types.py"}
"""CPython tooling, host text and a type for type checkers: never deployed."""
SOURCES = sorted(p for p in FIRMWARE.glob("*.py") if p.name not in HOST_ONLY)
ALLOWED = {"math", "time", "struct", "sys", "select", "machine", "micropython", "firmware_bridge"}
"""Modules MicroPython on the RP2040 provides, plus the firmware's own package."""
TYPING_ONLY = {"typing", "__future__"}
"""Allowed only inside `if TYPE_CHECKING:`, which never runs on the board."""


def imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(top-level module, line, inside `if TYPE_CHECKING:`) for every import in `tree`."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(node, ast.If) and isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name.split(".")[0], node.lineno, guarded) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append(((node.module or "").split(".")[0], node.lineno, guarded))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def violations(source: str) -> list[str]:
    """What in `source` MicroPython could not import."""
    bad = []
    for module, line, guarded in imports(ast.parse(source)):
        if module in ALLOWED or (guarded and module in TYPING_ONLY):
            continue
        where = "inside TYPE_CHECKING" if guarded else "at run time"
        bad.append(f"line {line}: imports {module!r} {where}")
    return bad


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_firmware_imports_only_what_micropython_has(source: Path) -> None:
    assert violations(source.read_text()) == []


def test_the_check_catches_what_micropython_lacks() -> None:
    assert violations("import dataclasses\n") == ["line 1: imports 'dataclasses' at run time"]
    assert violations("from typing import Protocol\n") == ["line 1: imports 'typing' at run time"]
    assert violations("def f():\n    import enum\n") == ["line 2: imports 'enum' at run time"]
    assert violations("import os.path\n") == ["line 1: imports 'os' at run time"]
    guarded = "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from typing import Any\n"
    assert violations(guarded) == []


def test_every_deployed_file_is_checked() -> None:
    names = {p.name for p in SOURCES}
    assert {"codec.py", "device.py", "executor.py", "hal_rp2.py", "main.py"} <= names
    assert "virtual.py" not in names

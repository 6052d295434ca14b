"""The projection engine and the storage adapters need only the events, never the command
side's application (CONVENTIONS: the read side depends on a recorder and a mapper)."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECTIONS = Path(__file__).resolve().parents[2] / "projections"
APPLICATION = "domain.application"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_projection_engine_and_storage_do_not_import_the_application() -> None:
    offenders = {
        f"{path.relative_to(PROJECTIONS)}: {module}"
        for room in ("engine", "storage")
        for path in (PROJECTIONS / room).glob("*.py")
        for module in imported_modules(path)
        if module == APPLICATION or module.startswith(f"{APPLICATION}.")
    }
    assert offenders == set()

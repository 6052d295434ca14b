"""domain/ imports only the standard library and eventsourcing (DESIGN section 1)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
ALLOWED_THIRD_PARTY = {"eventsourcing"}


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_imports_only_the_standard_library_eventsourcing_and_itself() -> None:
    offenders = {
        f"{path.name}: {module}"
        for path in DOMAIN.glob("*.py")
        for module in imported_top_level_modules(path)
        if module not in sys.stdlib_module_names
        and module not in ALLOWED_THIRD_PARTY
        and module != "domain"
    }
    assert offenders == set()


def test_the_demo_reports_progress_through_callbacks_and_draws_nothing_itself() -> None:
    demo = DOMAIN.parent / "api" / "demo"
    assert {
        path.name for path in demo.glob("*.py") if "click" in imported_top_level_modules(path)
    } == set()

"""docs/architecture.md states the same layers as the import-linter contracts that
./scripts/test checks, and names every room the code has."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "importlinter"
]["contracts"]


def documented_layers() -> list[list[str]]:
    blocks = re.findall(r"<!-- layers: \w+ -->\n```\n(.*?)```", DOCUMENT, re.DOTALL)
    return [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks]


def contracted_layers() -> list[list[str]]:
    return [contract["layers"] for contract in CONTRACTS if contract["type"] == "layers"]


def test_the_document_draws_the_layers_the_contracts_check() -> None:
    assert sorted(documented_layers()) == sorted(contracted_layers())


def test_every_room_of_the_code_is_described() -> None:
    rooms = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for package in ("domain", "projections", "api")
        for init in (ROOT / package).glob("*/__init__.py")
    }
    described = set(re.findall(r"^\| `([a-z_.]+)`", DOCUMENT, re.MULTILINE))
    assert rooms <= described, rooms - described

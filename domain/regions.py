"""The catalogue of six-digit administrative region codes the bureau pays in."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from domain.errors import UnknownRegionError

DEFAULT_CATALOGUE = "regions.csv"


class RegionCatalogue:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    @classmethod
    def load(cls, path: str | None = None) -> RegionCatalogue:
        """Read ``code,name`` rows from ``path``, or the catalogue shipped with the ledger."""
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files("domain").joinpath(DEFAULT_CATALOGUE).read_text("utf-8")
        rows = csv.DictReader(text.splitlines())
        return cls({row["code"]: row["name"] for row in rows})

    def check(self, code: str) -> str:
        if code not in self.names:
            raise UnknownRegionError(
                f"region {code!r} is not in the region catalogue", field="region"
            )
        return code

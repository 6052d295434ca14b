"""Opening the ledger and its views from the settings, for every entry point."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from api.settings import Settings
from domain.ledger import Ledger
from projections.database import ViewDatabase
from projections.projector import Projector
from projections.queries import ReadSide
from projections.views import open_views


@dataclass
class Runtime:
    settings: Settings
    ledger: Ledger
    views: ViewDatabase

    @property
    def projector(self) -> Projector:
        return Projector(self.ledger, self.views)

    @property
    def read_side(self) -> ReadSide:
        return ReadSide(self.views)


@contextmanager
def opened(settings: Settings | None = None) -> Iterator[Runtime]:
    settings = settings or Settings()
    ledger = Ledger(settings.ledger_env())
    views = open_views(ledger.env)
    try:
        yield Runtime(settings, ledger, views)
    finally:
        views.close()
        ledger.close()

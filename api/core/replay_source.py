"""What a replay's worker processes open for themselves: the ledger, and views of their own
beside the scratch views. Settings only, so that it pickles across to a spawned process."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from domain.application.ledger import Ledger
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views


@dataclass(frozen=True)
class LedgerReplaySource:
    """The ledger of ``env`` (the Ledger's environment); the first worker replays into the
    ``scratch`` views' schema, the others into schemas named after it (on SQLite, files
    beside its)."""

    env: Mapping[str, str]
    scratch: str

    @classmethod
    def of(cls, ledger: Ledger, scratch: str) -> LedgerReplaySource:
        return cls(dict(ledger.env), scratch)

    @contextmanager
    def events(self) -> Iterator[tuple[ApplicationRecorder, Mapper[UUID]]]:
        ledger = Ledger(self.env)
        try:
            yield ledger.recorder, ledger.mapper
        finally:
            ledger.close()

    def part_views(self, worker: int) -> ViewDatabase:
        schema = f"{self.scratch}_part{worker}" if worker else self.scratch
        return open_views(self.env, schema=schema)

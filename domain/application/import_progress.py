"""How far an import of a decisions file has come, saved with the decisions it imported."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

_IMPORT_NAMESPACE = uuid5(NAMESPACE_URL, "urn:social-assistance-ledger:imports")


class ImportProgress(Aggregate):
    class Started(Aggregate.Created):
        digest: str  # SHA-256 of the file: a resumed import must be of the same file

    class Advanced(Aggregate.Event):
        through_line: int

        def apply(self, progress: ImportProgress) -> None:
            progress.through_line = self.through_line

    def __init__(self, digest: str) -> None:
        self.digest = digest
        self.through_line = 0

    @staticmethod
    def id_for(digest: str) -> UUID:
        return uuid5(_IMPORT_NAMESPACE, digest)

    @classmethod
    def start(cls, digest: str, at: datetime) -> ImportProgress:
        return cls._create(cls.Started, id=cls.id_for(digest), digest=digest, timestamp=at)

    def advance(self, through_line: int, at: datetime) -> None:
        if through_line > self.through_line:
            self.trigger_event(self.Advanced, through_line=through_line, timestamp=at)

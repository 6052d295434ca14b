"""Whether the views follow this ledger.

The views live beside the ledger (a file of their own beside an SQLite ledger, a schema of the
ledger's PostgreSQL database), so the ledger can be replaced while they stay: a new ledger, or
one restored from an older backup. Opened as this ledger's, they would answer from another
history, and their tracking position, ahead of this ledger's events, would keep the projector
from projecting them until the ledger passed it. So they are refused wherever they are opened.

The views' audit chain already names each event they were built from: its link at a position
hashes the link before it with that event's position, originator, version, topic and stored
bytes (``projections.reads.audit_chain``). The ledger holds the views' history when it holds
the event of their last link and of the links at half, a quarter, ... of that position: about
20 links and events for a million, each read by its key, never a scan. One event is not
enough: two ledgers recorded with the same keys can hold the same decision (a standard, with
its time) at the same position after different cases; cases differ in their random ids and
in their personal data, sealed with a random nonce, so different histories differ at some of
the positions compared. A ledger restored from a backup taken after the views' position, or
written on from it, still holds their events, and the views go on from there.
"""

from __future__ import annotations

from eventsourcing.persistence import ApplicationRecorder

from projections.reads.audit_chain import GENESIS, link
from projections.storage.database import PostgresViews, SQLiteViews, ViewDatabase
from projections.storage.event_table import EventTable
from projections.storage.schema import SCHEMA_VERSION


class ViewsOfAnotherLedgerError(Exception):
    """The views were built from events this ledger does not hold at their positions."""

    def __init__(self, views: ViewDatabase, mismatch: str) -> None:
        super().__init__(
            f"the views are not this ledger's: {mismatch}. They were built from another "
            "ledger, or this ledger was restored from an older backup; nothing is read from "
            "them or projected into them. Rebuild them with `ledger rebuild --replace`, or "
            f"{_removal(views)}"
        )
        self.mismatch = mismatch


def refuse_views_of_another_ledger(recorder: ApplicationRecorder, views: ViewDatabase) -> None:
    """Raise ``ViewsOfAnotherLedgerError`` unless the ledger holds the events ``views`` were
    built from. Views never built, or of another schema version (replayed from the first
    event when next projected), follow any ledger."""
    if not _current_views(views):
        return
    furthest = int(views.fetchall("SELECT COALESCE(MAX(position), 0) FROM tracking")[0][0])
    # Read after the views, so that events the views reached meanwhile are counted.
    ledger_end = recorder.max_notification_id() or 0
    if furthest > ledger_end:
        raise ViewsOfAnotherLedgerError(
            views, f"they are at position {furthest} but the ledger ends at {ledger_end}"
        )
    compared = _link_at_or_before(views, furthest)
    while compared is not None:
        position, previous_position, previous_hash, kept = compared
        found = EventTable.of(recorder).rows(position, 1)
        if not found or found[0].position != position:
            raise ViewsOfAnotherLedgerError(
                views,
                f"they were built from an event at position {position}, and the ledger holds "
                f"no event there (it ends at {ledger_end})",
            )
        if link(previous_hash, previous_position, found[0]) != kept:
            raise ViewsOfAnotherLedgerError(
                views,
                f"the ledger's event at position {position} is not the one they were built "
                f"from (they are at position {furthest}, the ledger ends at {ledger_end})",
            )
        compared = _link_at_or_before(views, position // 2)


def _link_at_or_before(views: ViewDatabase, position: int) -> tuple[int, int, bytes, bytes] | None:
    """The views' last link at or before ``position``: its position, the previous link's
    position and hash, and its hash (None: there is none)."""
    rows = views.fetchall(
        "SELECT position, previous_position, hash FROM audit_chain WHERE position <= ?"
        " ORDER BY position DESC LIMIT 2",
        (position,),
    )
    if not rows:
        return None
    previous_position = int(rows[0][1])
    # The link before is the row before: the chain is extended one position after another.
    previous_hash = bytes(rows[1][2]) if len(rows) > 1 else GENESIS
    return int(rows[0][0]), previous_position, previous_hash, bytes(rows[0][2])


def _current_views(views: ViewDatabase) -> bool:
    """Whether ``views`` hold tables of this schema version."""
    if views.dialect == "postgres":
        exists = "SELECT to_regclass('views_schema') IS NOT NULL"
    else:
        exists = (
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'views_schema'"
        )
    if not views.fetchall(exists)[0][0]:
        return False
    return views.fetchall("SELECT version FROM views_schema") == [(SCHEMA_VERSION,)]


def _removal(views: ViewDatabase) -> str:
    """How to remove ``views`` by hand, so that they are built again from the first event."""
    if isinstance(views, SQLiteViews):
        return f"remove the views' file {views.path}"
    if isinstance(views, PostgresViews):
        return f"drop the views' schema (DROP SCHEMA {views.schema} CASCADE)"
    return "remove the views"

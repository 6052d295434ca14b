"""Rebuild: replay every event into empty views and compare them with the live views.

The replay stops at the position the live views had reached when it began; both are then
compared as known at that position, so the live views may go on meanwhile. Rows are read
in key order, page by page, so memory stays flat however long the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from projections.engine.batch_gc import rare_collections
from projections.engine.parallel_replay import ReplaySource, replay_in_processes
from projections.engine.projector import Projector
from projections.reads.audit_chain import signatures_vouched_through
from projections.reads.read_side import views_position
from projections.storage.database import Row, ViewDatabase
from projections.storage.schema import empty_scratch
from projections.storage.signing import read_once

PAGE = 5_000
# Events a replay projects in one transaction. Each commit writes the pages its batch
# changed, and the positions', chain's and indexes' hot pages change in every batch: ten
# times fewer commits than the live projector's batches took a sixth of a replay's CPU.
REPLAY_BATCH = 10_000
MAX_REPORTED = 20


@dataclass(frozen=True)
class _Table:
    name: str
    key: tuple[str, ...]  # unique, and the order rows are compared in
    values: str  # the other columns; ``?`` stands for the position compared at
    as_known: str  # the rows that belong to the views as known at the position


KNOWN_TO_AT = "CASE WHEN known_to > ? THEN NULL ELSE known_to END"

COMPARED = (
    _Table(
        "segments",
        ("subject_id", "known_from", "valid_from"),
        f"programme, region, valid_to, amount_fen, status, {KNOWN_TO_AT}",
        "known_from <= ?",
    ),
    _Table(
        "standards",
        ("programme", "region", "effective", "known_from"),
        f"parameters, {KNOWN_TO_AT}",
        "known_from <= ?",
    ),
    _Table(
        "subject_persons",
        ("person_ref", "subject_id", "valid_from", "known_from"),
        f"ordinal, valid_to, {KNOWN_TO_AT}",
        "known_from <= ?",
    ),
    _Table(
        "positions",
        ("position",),
        "recorded_at_us, originator_id, originator_version, ?",
        "position <= ?",
    ),
    _Table("audit_chain", ("position",), "previous_position, hash, ?", "position <= ?"),
    _Table(
        "relief_reviews",
        ("relief_id",),
        "region, relief_date, due, known_from,"
        " CASE WHEN reviewed_at > ? THEN NULL ELSE reviewed_at END,"
        " CASE WHEN reviewed_at > ? THEN NULL ELSE outcome END",
        "known_from <= ?",
    ),
    _Table(
        "household_reviews",
        ("case_id", "known_from"),
        "verification_id, made_on, due, at_or_above, ?",
        "known_from <= ?",
    ),
    _Table(
        "verification_requests",
        ("verification_id",),
        "known_from, CASE WHEN answered_at > ? THEN NULL ELSE answered_at END",
        "known_from <= ?",
    ),
    _Table(
        "approvals",
        ("subject_id", "known_from"),
        "what, programme, region, requested_by, requested_at, reason, amount_fen, cap_fen,"
        f" {KNOWN_TO_AT}",
        "known_from <= ?",
    ),
    _Table(
        "periods",
        ("programme", "region", "month"),
        "position, closed_at, line_count, month_total_fen, arrears_fen, recoveries_fen,"
        " digest, recomputed_digest, ?",
        "closed_at <= ?",
    ),
    _Table(
        "payroll_items",
        ("programme", "region", "period", "subject_id", "corrected_month", "kind"),
        "amount_fen, ?",
        "period IN (SELECT month FROM periods p WHERE p.programme = payroll_items.programme"
        " AND p.region = payroll_items.region AND p.closed_at <= ?)",
    ),
    _Table("payees", ("subject_id", "known_from"), "recipient_ref, version, ?", "known_from <= ?"),
    _Table(
        "payment_returns",
        ("programme", "region", "period", "subject_id"),
        "bank_reference, reason, amount_fen, known_from, ?",
        "known_from <= ?",
    ),
)


def replay(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    scratch: ViewDatabase,
    until: int,
    batch_size: int = REPLAY_BATCH,
    progress: Callable[[int], None] = lambda _: None,
    *,
    workers: int = 1,
    source: ReplaySource | None = None,
) -> int:
    """Empty ``scratch`` and project every event up to position ``until`` into it, telling
    ``progress`` the position reached after each batch (with ``workers`` above 1, the
    events replayed so far, by that many processes opening ``source``; the same rows).
    Each event's signature is checked as it is read, and not remembered (``read_once``):
    a replay reads each event once. Those up to the latest signed checkpoint are not
    checked again when the chain over the rows as stored passes through it
    (``audit_chain.CheckpointReach``), which is found before any event is projected."""
    if workers > 1:
        if source is None:
            raise ValueError("a replay by worker processes needs the source they open")
        return replay_in_processes(
            recorder, mapper, scratch, until, workers, source, batch_size, progress
        ).reached
    empty_scratch(scratch)
    vouched = signatures_vouched_through(recorder, mapper, until)
    with rare_collections():
        # What the projector holds is let go when it is done, inside the block.
        return _projected(
            Projector(recorder, read_once(mapper, vouched), scratch, batch_size), until, progress
        )


def _projected(projector: Projector, until: int, progress: Callable[[int], None]) -> int:
    """Run ``projector`` up to position ``until`` (or the end), batch by batch; the position
    reached."""
    batch_size = projector.batch_size
    while projector.position < until:
        projector.batch_size = min(batch_size, until - projector.position)
        if not projector.run_batch():
            break
        progress(projector.position)
    return projector.position


def compare(live: ViewDatabase, rebuilt: ViewDatabase, position: int) -> list[str]:
    """The differences between two views as known at ``position`` (empty when equal)."""
    differences: list[str] = []
    for table in COMPARED:
        size = len(table.key)
        left, right = _rows(live, table, position), _rows(rebuilt, table, position)
        a, b = next(left, None), next(right, None)
        while (a is not None or b is not None) and len(differences) < MAX_REPORTED:
            if a == b:
                a, b = next(left, None), next(right, None)
            elif b is None or (a is not None and a[:size] < b[:size]):
                differences.append(f"{table.name}: only the live views have {a}")
                a = next(left, None)
            elif a is None or b[:size] < a[:size]:
                differences.append(f"{table.name}: only the rebuilt views have {b}")
                b = next(right, None)
            else:
                differences.append(f"{table.name}: live {a}, rebuilt {b}")
                a, b = next(left, None), next(right, None)
    return differences


def _rows(views: ViewDatabase, table: _Table, position: int) -> Iterator[Row]:
    """The table's rows as known at ``position``, in key order, a page at a time."""
    key = ", ".join(table.key)
    marks = ", ".join("?" for _ in table.key)
    placeholders = table.values.count("?") + table.as_known.count("?")
    after: tuple[object, ...] | None = None
    while True:
        page_filter = f" AND ({key}) > ({marks})" if after is not None else ""
        rows = views.fetchall(
            f"SELECT {key}, {table.values} FROM {table.name} "
            f"WHERE {table.as_known}{page_filter} ORDER BY {key} LIMIT ?",
            (*[position] * placeholders, *(after or ()), PAGE),
        )
        for row in rows:
            yield tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        if len(rows) < PAGE:
            return
        after = tuple(rows[-1][: len(table.key)])


def rebuild_and_compare(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    live: ViewDatabase,
    scratch: ViewDatabase,
    progress: Callable[[int], None] = lambda _: None,
    *,
    workers: int = 1,
    source: ReplaySource | None = None,
) -> list[str]:
    """Replay the recorded events into ``scratch`` up to where ``live`` is (telling
    ``progress`` the positions replayed), with ``workers`` processes, and compare."""
    position = views_position(live)
    reached = replay(
        recorder, mapper, scratch, position, progress=progress, workers=workers, source=source
    )
    if reached != position:
        return [f"the replay reached position {reached}, the live views {position}"]
    return compare(live, scratch, position)

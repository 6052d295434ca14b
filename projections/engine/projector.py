"""Projects the ledger's events into the views, one batch per transaction.

Each batch reads the tracking position, applies its events, extends the audit chain and
advances the tracking position in one transaction, so that every event is projected exactly
once even if the process dies mid-batch or two projectors run at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from domain.application.ledger import Ledger
from domain.cases.case import Case
from domain.cases.programmes import Programme
from domain.months import Month
from domain.payroll_periods import PayrollPeriods, PayrollSummary
from domain.relief import REVIEW_DAYS, Relief, ReliefKind, ReviewOutcome
from domain.standards import StandardSchedule
from projections.engine.case_state import CaseState
from projections.engine.segments import Segment, case_segments
from projections.engine.standards_table import StandardsTable
from projections.reads import audit_chain
from projections.reads.payroll_lines import lines_of, payroll_items
from projections.storage.database import Cursor, ViewDatabase
from projections.storage.record_time import microseconds
from projections.storage.schema import TABLES, TRACKING_NAME, create_views, valid_until

DEFAULT_BATCH_SIZE = 1_000
RELIEF_GRANTED = "granted"
PREFETCH_CHUNK = 500
RAISE_CHUNK = 2_000  # cases a standard raise re-segments before writing them
SEGMENT_COLUMNS = (
    "subject_id",
    "programme",
    "region",
    "valid_from",
    "valid_to",
    "amount_fen",
    "status",
    "known_from",
    "known_to",
)
STATISTICS_AFTER = 5_000  # events projected before the first refresh of statistics


def to_fen(amount: Decimal) -> int:
    return int(amount * 100)


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(originator_id).hex


@dataclass(frozen=True)
class ReliefState:
    relief_date: date
    amount: Decimal
    kind: str

    @property
    def month(self) -> Month:
        return Month.containing(self.relief_date)

    def to_json(self) -> str:
        return json.dumps(
            {"date": self.relief_date.isoformat(), "amount": str(self.amount), "kind": self.kind}
        )

    @classmethod
    def from_json(cls, text: str) -> ReliefState:
        data = json.loads(text)
        return cls(date.fromisoformat(data["date"]), Decimal(data["amount"]), data["kind"])


class _OpenRow:
    """A segment row whose record time has not ended, in the database or pending insert."""

    __slots__ = ("pending", "segment")

    def __init__(self, segment: Segment, pending: list[Any] | None) -> None:
        self.segment = segment
        self.pending = pending


class _Batch:
    """The changes one batch makes, collected in memory and written in ``flush``."""

    def __init__(self, cursor: Cursor, standards: StandardsTable) -> None:
        self.cursor = cursor
        self.standards = standards
        self.subjects: dict[str, tuple[str, str, CaseState | ReliefState]] = {}
        self.dirty: set[str] = set()
        self.open_rows: dict[str, list[_OpenRow]] = {}
        self.inserts: list[list[Any]] = []
        self.closings: list[tuple[int, str, int]] = []
        self.persons: list[tuple[str, str, int, int]] = []

    # Events.

    def apply(self, position: int, event: object) -> None:
        if isinstance(event, Case.Granted):
            case_id = event.originator_id.hex
            state = CaseState(Programme(event.programme), event.region)
            state.decisions.append(Case.granted_decision(event.effective, event.facts))
            self._put(case_id, state)
            self.persons += [
                (case_id, p["reference"], n, position) for n, p in enumerate(event.persons)
            ]
            self._resegment_case(case_id, position)
        elif isinstance(event, Case.DatedDecision):
            case_id = event.originator_id.hex
            case = self._case(case_id)
            case.decisions.append(event.as_decision())
            self._put(case_id, case)
            self._resegment_case(case_id, position)
        elif isinstance(event, Case.RescissionApproved):
            case_id = event.originator_id.hex
            case = self._case(case_id)
            case.rescinded = True
            self._put(case_id, case)
            self._resegment_case(case_id, position)
        elif isinstance(event, StandardSchedule.StandardSet):
            self._standard(position, event)
        elif isinstance(event, Relief.Asked):
            self._relief_asked(position, event)
        elif isinstance(event, Relief.ReliefApproved):
            relief_id = event.originator_id.hex
            self._relief_granted(relief_id, position, self._relief(relief_id))
        elif isinstance(event, Relief.ReliefReviewed):
            self._relief_reviewed(position, event)

    def _relief_asked(self, position: int, event: Relief.Asked) -> None:
        relief_id = event.originator_id.hex
        relief = ReliefState(event.relief_date, event.amount, event.kind)
        self.subjects[relief_id] = (Programme.TEMPORARY_RELIEF.value, event.region, relief)
        self.dirty.add(relief_id)
        self.persons += [
            (relief_id, p["reference"], n, position) for n, p in enumerate(event.persons)
        ]
        if isinstance(event, Relief.ReliefGranted):
            self._relief_granted(relief_id, position, relief)

    def _relief_granted(self, relief_id: str, position: int, relief: ReliefState) -> None:
        segment = Segment(relief.month, relief.month + 1, relief.amount, RELIEF_GRANTED)
        self._resegment(relief_id, [segment], position)
        if relief.kind == ReliefKind.EMERGENCY:
            _, region, _ = self.subjects[relief_id]
            due = relief.relief_date + timedelta(days=REVIEW_DAYS)
            self.cursor.execute(
                "INSERT INTO relief_reviews (relief_id, region, relief_date, due, known_from) "
                "VALUES (?, ?, ?, ?, ?)",
                (relief_id, region, relief.relief_date.isoformat(), due.isoformat(), position),
            )

    def _relief_reviewed(self, position: int, event: Relief.ReliefReviewed) -> None:
        relief_id = event.originator_id.hex
        self.cursor.execute(
            "UPDATE relief_reviews SET reviewed_at = ?, outcome = ? WHERE relief_id = ?",
            (position, event.outcome, relief_id),
        )
        if event.outcome == ReviewOutcome.RESCINDED:
            self._resegment(relief_id, [], position)

    def _standard(self, position: int, event: StandardSchedule.StandardSet) -> None:
        programme, region = Programme(event.programme), event.region
        self.cursor.execute(
            "UPDATE standards SET known_to = ? WHERE programme = ? AND region = ? "
            "AND effective = ? AND known_to IS NULL",
            (position, programme.value, region, event.effective.index),
        )
        self.cursor.execute(
            "INSERT INTO standards (programme, region, effective, parameters, known_from) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                programme.value,
                region,
                event.effective.index,
                json.dumps({k: str(v) for k, v in event.parameters.items()}),
                position,
            ),
        )
        self.standards.put(programme, region, event.effective, event.parameters)
        affected = [programme, Programme.TEKUN] if programme.is_dibao else [programme]
        case_ids = self._cases_open_from(region, affected, event.effective)
        # A region's open cases can be many: they are re-segmented a chunk at a time, and
        # those the batch did not hold before are written and let go after each chunk, so
        # that memory follows the chunk, not the caseload.
        for start in range(0, len(case_ids), RAISE_CHUNK):
            chunk = case_ids[start : start + RAISE_CHUNK]
            fetched = [case_id for case_id in chunk if case_id not in self.open_rows]
            self.prefetch(chunk)
            for case_id in chunk:
                self._resegment_case(case_id, position)
            self.flush()
            self._forget(fetched)

    # Subjects.

    def _put(self, subject_id: str, state: CaseState) -> None:
        self.subjects[subject_id] = (state.programme.value, state.region, state)
        self.dirty.add(subject_id)

    def _case(self, case_id: str) -> CaseState:
        state = self._load(case_id)
        if not isinstance(state, CaseState):
            raise LookupError(f"case {case_id} is not in the views")
        return state

    def _relief(self, relief_id: str) -> ReliefState:
        state = self._load(relief_id)
        if not isinstance(state, ReliefState):
            raise LookupError(f"relief {relief_id} is not in the views")
        return state

    def _load(self, subject_id: str) -> CaseState | ReliefState:
        if subject_id not in self.subjects:
            rows = self.cursor.fetchall(
                "SELECT programme, region, state FROM subjects WHERE subject_id = ?",
                (subject_id,),
            )
            if not rows:
                raise LookupError(f"{subject_id} is not in the views")
            self._remember(subject_id, *rows[0])
        return self.subjects[subject_id][2]

    def _remember(self, subject_id: str, programme: str, region: str, text: str) -> None:
        state: CaseState | ReliefState = (
            ReliefState.from_json(text)
            if programme == Programme.TEMPORARY_RELIEF
            else CaseState.from_json(programme, region, text)
        )
        self.subjects[subject_id] = (programme, region, state)

    def _cases_open_from(
        self, region: str, programmes: Sequence[Programme], month: Month
    ) -> list[str]:
        """The cases a standard from ``month`` may change: those this batch holds, and those
        whose rows known now reach ``month``. A case closed before it keeps its amounts."""
        names = [p.value for p in programmes]
        marks = ", ".join("?" for _ in names)
        stored = self.cursor.fetchall(
            f"SELECT DISTINCT subject_id FROM segments WHERE programme IN ({marks}) "
            f"AND region = ? AND known_to IS NULL AND {valid_until()} > ?",
            (*names, region, month.index),
        )
        in_batch = [
            subject_id
            for subject_id, (programme, subject_region, _) in self.subjects.items()
            if subject_region == region and programme in names
        ]
        return list(dict.fromkeys([*in_batch, *(subject_id for (subject_id,) in stored)]))

    # Segments.

    def _resegment_case(self, case_id: str, position: int) -> None:
        case = self._case(case_id)
        segments = case_segments(
            case.programme, case.region, case.decisions, self.standards, rescinded=case.rescinded
        )
        self._resegment(case_id, segments, position)

    def _resegment(self, subject_id: str, segments: list[Segment], position: int) -> None:
        """Make ``segments`` the subject's knowledge from ``position`` on."""
        self._load(subject_id)
        programme, region, _ = self.subjects[subject_id]
        current = self._open_rows(subject_id)
        wanted = set(segments)
        kept: list[_OpenRow] = []
        for row in current:
            if row.segment in wanted:
                kept.append(row)
                wanted.discard(row.segment)
            elif row.pending is not None:
                row.pending[-1] = position
            else:
                self.closings.append((position, subject_id, row.segment.valid_from.index))
        for segment in sorted(wanted, key=lambda s: s.valid_from):
            pending = [
                subject_id,
                programme,
                region,
                segment.valid_from.index,
                segment.valid_to.index if segment.valid_to is not None else None,
                to_fen(segment.amount),
                segment.status,
                position,
                None,
            ]
            self.inserts.append(pending)
            kept.append(_OpenRow(segment, pending))
        self.open_rows[subject_id] = kept

    def _open_rows(self, subject_id: str) -> list[_OpenRow]:
        if subject_id not in self.open_rows:
            self.prefetch([subject_id])
        return self.open_rows[subject_id]

    def _forget(self, subject_ids: Sequence[str]) -> None:
        """Let go of subjects whose changes are written; they are read again if needed."""
        for subject_id in subject_ids:
            self.subjects.pop(subject_id, None)
            self.open_rows.pop(subject_id, None)

    def prefetch(self, subject_ids: Sequence[str]) -> None:
        """Read the state and current rows of many subjects at once, ahead of their events."""
        wanted = [s for s in dict.fromkeys(subject_ids) if s not in self.open_rows]
        for start in range(0, len(wanted), PREFETCH_CHUNK):
            chunk = wanted[start : start + PREFETCH_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for subject_id, programme, region, text in self.cursor.fetchall(
                f"SELECT subject_id, programme, region, state FROM subjects "
                f"WHERE subject_id IN ({marks})",
                chunk,
            ):
                if subject_id not in self.subjects:
                    self._remember(subject_id, programme, region, text)
            rows: dict[str, list[_OpenRow]] = {subject_id: [] for subject_id in chunk}
            for subject_id, valid_from, valid_to, amount_fen, status in self.cursor.fetchall(
                f"SELECT subject_id, valid_from, valid_to, amount_fen, status FROM segments "
                f"WHERE subject_id IN ({marks}) AND known_to IS NULL",
                chunk,
            ):
                valid_until = Month(valid_to) if valid_to is not None else None
                segment = Segment(Month(valid_from), valid_until, Decimal(amount_fen) / 100, status)
                rows[subject_id].append(_OpenRow(segment, None))
            self.open_rows.update(rows)

    def flush(self) -> None:
        """Write the changes so far."""
        cursor = self.cursor
        cursor.executemany(
            "INSERT INTO subjects (subject_id, programme, region, state) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (subject_id) DO UPDATE SET state = excluded.state",
            [
                (subject_id, programme, region, state.to_json())
                for subject_id in self.dirty
                for programme, region, state in [self.subjects[subject_id]]
            ],
        )
        cursor.executemany(
            "INSERT INTO subject_persons (subject_id, person_ref, ordinal, known_from) "
            "VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            self.persons,
        )
        cursor.executemany(
            "UPDATE segments SET known_to = ? "
            "WHERE subject_id = ? AND valid_from = ? AND known_to IS NULL",
            self.closings,
        )
        cursor.insert("segments", SEGMENT_COLUMNS, self.inserts)
        # What was written stays known to the batch: later events go on from it.
        for rows in self.open_rows.values():
            for row in rows:
                row.pending = None
        self.dirty.clear()
        self.persons.clear()
        self.closings.clear()
        self.inserts.clear()


def record_period(cursor: Cursor, closed_at: int, event: PayrollPeriods.PeriodClosed) -> None:
    """Recompute the closed period's lines at its position, keep them, and keep the digest
    they give beside the one recorded, so that any difference is visible."""
    items = payroll_items(cursor, event.programme, event.region, event.month, event.position)
    recomputed = PayrollSummary.of(lines_of(items))
    cursor.execute(
        "INSERT INTO periods (programme, region, month, position, closed_at, line_count, "
        "month_total_fen, arrears_fen, recoveries_fen, digest, recomputed_digest) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.programme,
            event.region,
            event.month.index,
            event.position,
            closed_at,
            event.line_count,
            to_fen(event.month_total),
            to_fen(event.arrears_total),
            to_fen(event.recoveries_total),
            event.digest,
            recomputed.digest,
        ),
    )
    cursor.insert(
        "payroll_items",
        ("programme", "region", "period", "subject_id", "corrected_month", "kind", "amount_fen"),
        [
            (
                event.programme,
                event.region,
                event.month.index,
                item.subject_id,
                item.corrected_month.index,
                item.kind,
                item.amount_fen,
            )
            for item in items
        ],
    )


class Projector:
    """Feeds the views from the ledger's notification log, batch by batch."""

    def __init__(
        self, ledger: Ledger, views: ViewDatabase, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self.ledger = ledger
        self.views = views
        self.batch_size = batch_size
        create_views(views, TRACKING_NAME)
        self.reached = self.position
        self._statistics_at = self.reached
        self._since_statistics = 0

    @property
    def position(self) -> int:
        rows = self.views.fetchall("SELECT position FROM tracking WHERE name = ?", (TRACKING_NAME,))
        return int(rows[0][0]) if rows else 0

    def run_batch(self) -> int:
        """Project the next batch of events; the number projected (0 when caught up)."""
        self.reached = self.position
        start = self.reached + 1
        notifications = self.ledger.recorder.select_notifications(
            start=start, limit=self.batch_size
        )
        if not notifications:
            return 0
        with self.views.transaction() as cursor:
            if self._tracked(cursor) != start - 1:
                return 0  # another projector took this batch
            self._project(cursor, notifications)
        self.reached = notifications[-1].id
        self._note_growth(notifications[-1].id, len(notifications))
        return len(notifications)

    def _note_growth(self, position: int, projected: int) -> None:
        """Refresh the planner's statistics each time the views have doubled or so."""
        self._since_statistics += projected
        if self._since_statistics >= max(STATISTICS_AFTER, self._statistics_at):
            self.views.refresh_statistics(TABLES)
            self._statistics_at, self._since_statistics = position, 0

    def catch_up(self) -> int:
        """Project every event recorded so far; the number projected."""
        total = 0
        while projected := self.run_batch():
            total += projected
        return total

    def _project(self, cursor: Cursor, notifications: Sequence[Notification]) -> None:
        # Read in the batch's transaction, so that they are the standards at its start even
        # when another projector took the batches before it.
        standards = self._load_standards(cursor)
        batch = _Batch(cursor, standards)
        recorded = self._latest_recorded(cursor)
        positions = []
        events = [self.ledger.mapper.to_domain_event(n) for n in notifications]
        batch.prefetch(
            [e.originator_id.hex for e in events if isinstance(e, Case.Event | Relief.Event)]
        )
        for notification, event in zip(notifications, events, strict=True):
            recorded = max(recorded, microseconds(getattr(event, "timestamp")))  # noqa: B009
            positions.append(
                (
                    notification.id,
                    recorded,
                    _hex(notification.originator_id),
                    notification.originator_version,
                )
            )
            if isinstance(event, PayrollPeriods.PeriodClosed):
                batch.flush()  # the period's lines are computed from the rows written so far
                record_period(cursor, notification.id, event)
            else:
                batch.apply(notification.id, event)
        batch.flush()
        cursor.insert(
            "positions",
            ("position", "recorded_at_us", "originator_id", "originator_version"),
            positions,
        )
        audit_chain.extend(cursor, notifications)
        cursor.execute(
            "UPDATE tracking SET position = ? WHERE name = ?", (notifications[-1].id, TRACKING_NAME)
        )

    def _tracked(self, cursor: Cursor) -> int:
        lock = " FOR UPDATE" if self.views.dialect == "postgres" else ""
        rows = cursor.fetchall(
            f"SELECT position FROM tracking WHERE name = ?{lock}", (TRACKING_NAME,)
        )
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def _latest_recorded(cursor: Cursor) -> int:
        """Record time never goes back: each position's is at least its predecessor's."""
        rows = cursor.fetchall(
            "SELECT recorded_at_us FROM positions ORDER BY position DESC LIMIT 1"
        )
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def _load_standards(cursor: Cursor) -> StandardsTable:
        table = StandardsTable()
        for programme, region, effective, parameters in cursor.fetchall(
            "SELECT programme, region, effective, parameters FROM standards "
            "WHERE known_to IS NULL ORDER BY known_from"
        ):
            table.put(
                Programme(programme),
                region,
                Month(effective),
                {k: Decimal(v) for k, v in json.loads(parameters).items()},
            )
        return table

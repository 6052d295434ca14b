"""The rows one batch changes: held in memory while its events are applied, written in
``flush``, inside the batch's transaction.

Rows are never updated in place: a segment that stops being the ledger's knowledge gets
``known_to`` set to the position that superseded it, and its successor is inserted with
``known_from`` at that position. A segment inserted and superseded within one batch is
written once, with both ends. What the batch wrote stays known to it, so later events go on
from it without reading it back; the projector carries it into the next batch (``carry_to``)
when nothing else wrote the views in between, keeping the subjects used most recently
(``trim``). Nothing here decides what an event means (that is
``projections.engine.handlers``); this module only keeps and writes the rows.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from domain.cases.programmes import Programme
from domain.months import Month
from domain.payroll_periods import PayrollPeriods
from projections.engine.case_state import CaseState
from projections.engine.relief_state import ReliefState
from projections.engine.segments import Segment
from projections.engine.standards_table import StandardsTable
from projections.reads.approvals import APPROVAL_COLUMNS, ApprovalRequest, approval_row
from projections.reads.payroll_lines import AMOUNT, ComputedItems, PayrollItem, payroll_items
from projections.storage.database import Cursor, Statement
from projections.storage.schema import valid_until

PREFETCH_CHUNK = 500
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

SubjectState = CaseState | ReliefState


def to_fen(amount: Decimal) -> int:
    return int(amount * 100)


def standards_known(cursor: Cursor) -> StandardsTable:
    """The standards the views know now, in the order they became known."""
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


class _OpenRow:
    """A segment row whose record time has not ended, in the database or pending insert."""

    __slots__ = ("pending", "segment")

    def __init__(self, segment: Segment, pending: list[Any] | None) -> None:
        self.segment = segment
        self.pending = pending


class RowStore:
    """The subjects (cases and reliefs) a batch holds, their open segment rows, and the
    rows still to be written."""

    def __init__(self, cursor: Cursor, computed: ComputedItems | None = None) -> None:
        self.cursor = cursor
        self.computed = computed
        # The subjects held, the one used least recently first.
        self.subjects: OrderedDict[str, tuple[str, str, SubjectState]] = OrderedDict()
        self.dirty: set[str] = set()  # subjects whose state is to be written
        self.unwritten: dict[str, None] = {}  # subjects with changes not yet written, in order
        self.open_rows: dict[str, list[_OpenRow]] = {}
        self.inserts: list[list[Any]] = []
        self.inserted: list[_OpenRow] = []  # the open rows of ``inserts``
        self.closings: list[tuple[int, str, int]] = []
        # subject, person, ordinal, valid from, valid to (None: no end), known from
        self.persons: list[tuple[str, str, int, int, int | None, int]] = []
        self.statements: list[Statement] = []  # the other rows' writes, in event order

    # Subjects.

    def put(self, subject_id: str, programme: str, region: str, state: SubjectState) -> None:
        """Keep ``state`` as the subject's, to be written at the next flush."""
        self.subjects[subject_id] = (programme, region, state)
        self.subjects.move_to_end(subject_id)
        self.dirty.add(subject_id)
        self.unwritten[subject_id] = None

    def case(self, case_id: str) -> CaseState:
        state = self._load(case_id)
        if not isinstance(state, CaseState):
            raise LookupError(f"case {case_id} is not in the views")
        return state

    def relief(self, relief_id: str) -> ReliefState:
        state = self._load(relief_id)
        if not isinstance(state, ReliefState):
            raise LookupError(f"relief {relief_id} is not in the views")
        return state

    def region_of(self, subject_id: str) -> str:
        self._load(subject_id)
        return self.subjects[subject_id][1]

    def add_persons(
        self,
        subject_id: str,
        references: Sequence[str],
        valid_from: Month,
        position: int,
        first_ordinal: int = 0,
    ) -> None:
        """Persons of the subject from the month ``valid_from`` on, known from ``position``;
        numbered in the order named, from ``first_ordinal``."""
        self.persons += [
            (subject_id, reference, n, valid_from.index, None, position)
            for n, reference in enumerate(references, start=first_ordinal)
        ]

    def remove_persons(
        self, subject_id: str, references: Sequence[str], valid_from: Month, position: int
    ) -> None:
        """Persons of the subject no longer from the month ``valid_from`` on, as known from
        ``position``: each one's row holding that month is superseded by one that ends
        before it (none, when it would hold no month)."""
        self._write_persons()
        for reference in references:
            for ordinal, start in self.cursor.fetchall(
                "SELECT ordinal, valid_from FROM subject_persons WHERE subject_id = ? "
                f"AND person_ref = ? AND known_to IS NULL AND valid_from <= ? "
                f"AND {valid_until()} > ?",
                (subject_id, reference, valid_from.index, valid_from.index),
            ):
                self.cursor.execute(
                    "UPDATE subject_persons SET known_to = ? WHERE subject_id = ? "
                    "AND person_ref = ? AND valid_from = ? AND known_to IS NULL",
                    (position, subject_id, reference, start),
                )
                if start < valid_from.index:
                    self.persons.append(
                        (subject_id, reference, ordinal, start, valid_from.index, position)
                    )
        self._write_persons()

    def cases_open_from(
        self, region: str, programmes: Sequence[Programme], month: Month
    ) -> list[str]:
        """The cases a standard from ``month`` may change: those with changes not yet
        written, and those whose rows known now reach ``month``. A case closed before it
        keeps its amounts."""
        names = [p.value for p in programmes]
        marks = ", ".join("?" for _ in names)
        stored = self.cursor.fetchall(
            f"SELECT DISTINCT subject_id FROM segments WHERE programme IN ({marks}) "
            f"AND region = ? AND known_to IS NULL AND {valid_until()} > ?",
            (*names, region, month.index),
        )
        unwritten = [
            subject_id
            for subject_id in self.unwritten
            for programme, subject_region, _ in [self.subjects[subject_id]]
            if subject_region == region and programme in names
        ]
        return list(dict.fromkeys([*unwritten, *(subject_id for (subject_id,) in stored)]))

    def _load(self, subject_id: str) -> SubjectState:
        if subject_id not in self.subjects:
            rows = self.cursor.fetchall(
                "SELECT programme, region, state FROM subjects WHERE subject_id = ?",
                (subject_id,),
            )
            if not rows:
                raise LookupError(f"{subject_id} is not in the views")
            self._remember(subject_id, *rows[0])
        else:
            self.subjects.move_to_end(subject_id)
        return self.subjects[subject_id][2]

    def _remember(self, subject_id: str, programme: str, region: str, text: str) -> None:
        state: SubjectState = (
            ReliefState.from_json(text)
            if programme == Programme.TEMPORARY_RELIEF
            else CaseState.from_json(programme, region, text)
        )
        self.subjects[subject_id] = (programme, region, state)

    # Segments.

    def resegment(self, subject_id: str, segments: Sequence[Segment], position: int) -> None:
        """Make ``segments`` the subject's knowledge from ``position`` on: rows that stay the
        same are kept, the others are superseded at ``position``, the new ones inserted."""
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
            row = _OpenRow(segment, pending)
            self.inserts.append(pending)
            self.inserted.append(row)
            kept.append(row)
        self.open_rows[subject_id] = kept
        self.unwritten[subject_id] = None

    def segments_of(self, subject_id: str) -> list[Segment]:
        """The subject's segments as the batch knows them now."""
        return [row.segment for row in self._open_rows(subject_id)]

    def _open_rows(self, subject_id: str) -> list[_OpenRow]:
        if subject_id not in self.open_rows:
            self.prefetch([subject_id])
        return self.open_rows[subject_id]

    # Rows written at once, in event order.

    def set_standard(
        self,
        programme: Programme,
        region: str,
        effective: Month,
        parameters: Mapping[str, Decimal],
        position: int,
    ) -> None:
        """Supersede the schedule's entry for ``effective``, if any, by ``parameters``."""
        self._later(
            "UPDATE standards SET known_to = ? WHERE programme = ? AND region = ? "
            "AND effective = ? AND known_to IS NULL",
            (position, programme.value, region, effective.index),
        )
        self._later(
            "INSERT INTO standards (programme, region, effective, parameters, known_from) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                programme.value,
                region,
                effective.index,
                json.dumps({k: str(v) for k, v in parameters.items()}),
                position,
            ),
        )

    def review_due(
        self, relief_id: str, region: str, relief_date: date, due: date, position: int
    ) -> None:
        self._later(
            "INSERT INTO relief_reviews (relief_id, region, relief_date, due, known_from) "
            "VALUES (?, ?, ?, ?, ?)",
            (relief_id, region, relief_date.isoformat(), due.isoformat(), position),
        )

    def review_done(self, relief_id: str, outcome: str, position: int) -> None:
        self._later(
            "UPDATE relief_reviews SET reviewed_at = ?, outcome = ? WHERE relief_id = ?",
            (position, outcome, relief_id),
        )

    def household_verified(
        self,
        case_id: str,
        verification_id: str | None,
        made_on: date | None,
        due: Month,
        at_or_above_standard: bool,
        position: int,
    ) -> None:
        self._later(
            "INSERT INTO household_reviews"
            " (case_id, verification_id, made_on, due, at_or_above, known_from)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                case_id,
                verification_id,
                made_on.isoformat() if made_on is not None else None,
                due.index,
                int(at_or_above_standard),
                position,
            ),
        )

    def verification_requested(self, verification_id: str, position: int) -> None:
        self._later(
            "INSERT INTO verification_requests (verification_id, known_from) VALUES (?, ?)",
            (verification_id, position),
        )

    def verification_answered(self, verification_id: str, position: int) -> None:
        self._later(
            "UPDATE verification_requests SET answered_at = ? WHERE verification_id = ?",
            (position, verification_id),
        )

    def await_approval(self, request: ApprovalRequest, position: int) -> None:
        """A request recorded at ``position`` waits for a second person's approval."""
        marks = ", ".join("?" for _ in APPROVAL_COLUMNS)
        self._later(
            f"INSERT INTO approvals ({', '.join(APPROVAL_COLUMNS)}) VALUES ({marks})",
            approval_row(request, position),
        )

    def approval_given(self, subject_id: str, position: int) -> None:
        """The subject's request waits no longer from ``position`` on."""
        self._later(
            "UPDATE approvals SET known_to = ? WHERE subject_id = ? AND known_to IS NULL",
            (position, subject_id),
        )

    def payee_changed(self, case_id: str, recipient: str, version: int, position: int) -> None:
        self._later(
            "INSERT INTO payees (subject_id, recipient_ref, version, known_from) "
            "VALUES (?, ?, ?, ?)",
            (case_id, recipient, version, position),
        )

    def payment_returned(
        self,
        case_id: str,
        period: Month,
        bank_reference: str,
        reason: str,
        amount: Decimal,
        position: int,
    ) -> None:
        programme, region, _ = self.subjects[case_id]
        self._later(
            "INSERT INTO payment_returns (programme, region, period, subject_id, bank_reference,"
            " reason, amount_fen, known_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                programme,
                region,
                period.index,
                case_id,
                bank_reference,
                reason,
                to_fen(amount),
                position,
            ),
        )

    def payroll_items(
        self, programme: str, region: str, month: Month, position: int
    ) -> tuple[list[PayrollItem], bool]:
        """The period's items from the rows written so far (``flush`` first), or as the
        close computed them; and whether they are the close's own."""
        return payroll_items(self.cursor, programme, region, month, position, self.computed)

    def keep_period(
        self,
        event: PayrollPeriods.PeriodClosed,
        closed_at: int,
        recomputed_digest: str,
        items: Sequence[PayrollItem],
    ) -> None:
        self._later(
            "INSERT INTO periods (programme, region, month, position, closed_at, line_count, "
            "month_total_fen, arrears_fen, recoveries_fen, digest, recomputed_digest, "
            "own_amounts_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                recomputed_digest,
                sum(item.amount_fen for item in items if item.kind == AMOUNT),
            ),
        )
        self.cursor.insert(
            "payroll_items",
            (
                "programme",
                "region",
                "period",
                "subject_id",
                "corrected_month",
                "kind",
                "amount_fen",
            ),
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
                if item.kind != AMOUNT  # derived from the segments where they are read
            ],
        )

    # Memory.

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
                until = Month(valid_to) if valid_to is not None else None
                segment = Segment(Month(valid_from), until, Decimal(amount_fen) / 100, status)
                rows[subject_id].append(_OpenRow(segment, None))
            self.open_rows.update(rows)

    def trim(self, keep: int) -> None:
        """Let go of the subjects used least recently beyond ``keep`` (``flush`` first); they
        are read again if needed."""
        while len(self.subjects) > keep:
            subject_id, _ = self.subjects.popitem(last=False)
            self.open_rows.pop(subject_id, None)
        if len(self.open_rows) > len(self.subjects):  # rows of subjects the views lack
            for subject_id in [s for s in self.open_rows if s not in self.subjects]:
                del self.open_rows[subject_id]

    def carry_to(self, cursor: Cursor) -> None:
        """Go on in another transaction, of a batch that follows this one's (``flush``
        first): what this one holds is what the views hold."""
        self.cursor = cursor

    def _later(self, sql: str, params: Sequence[Any]) -> None:
        """Run a statement at the next flush, after those before it."""
        self.statements.append((sql, params))

    def _write_persons(self) -> None:
        self.cursor.executemany(
            "INSERT INTO subject_persons"
            " (subject_id, person_ref, ordinal, valid_from, valid_to, known_from)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            self.persons,
        )
        self.persons.clear()

    def flush(self) -> None:
        """Write the changes so far."""
        cursor = self.cursor
        cursor.execute_in_order(self.statements)
        self.statements.clear()
        cursor.executemany(
            "INSERT INTO subjects (subject_id, programme, region, state) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (subject_id) DO UPDATE SET state = excluded.state",
            [
                (subject_id, programme, region, state.to_json())
                for subject_id in self.dirty
                for programme, region, state in [self.subjects[subject_id]]
            ],
        )
        self._write_persons()
        cursor.executemany(
            "UPDATE segments SET known_to = ? "
            "WHERE subject_id = ? AND valid_from = ? AND known_to IS NULL",
            self.closings,
        )
        cursor.insert("segments", SEGMENT_COLUMNS, self.inserts)
        # What was written stays known to the batch: later events go on from it.
        for row in self.inserted:
            row.pending = None
        self.inserted.clear()
        self.dirty.clear()
        self.unwritten.clear()
        self.closings.clear()
        self.inserts.clear()

"""A case's entitlement over valid time, as piecewise-constant segments of months.

Between two consecutive change points — a decision, a standard entry, a birthday that
changes the elderly band, the end of a gradual exit or of an orphan's allowance — nothing
the amount depends on changes, so one fold per change point gives every month's amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.ages import first_month_aged
from domain.cases.amounts import monthly_amount
from domain.cases.fold import Decision, closing_month, fold_months
from domain.cases.programmes import Programme
from domain.money import ZERO
from domain.months import Month
from projections.engine.standards_table import StandardsTable

ELDERLY_BAND_AGES = (90, 100)


@dataclass(frozen=True, slots=True)
class Segment:
    """The months ``valid_from`` up to (not including) ``valid_to`` (None: no end yet)."""

    valid_from: Month
    valid_to: Month | None
    amount: Decimal
    status: str


def case_segments(
    programme: Programme,
    region: str,
    decisions: Sequence[Decision],
    standards: StandardsTable,
    *,
    rescinded: bool,
) -> list[Segment]:
    if rescinded or not decisions:
        return []
    return _merged([], _pieces(programme, region, decisions, standards, decisions[0].effective))


def repriced_from(
    month: Month,
    known: Sequence[Segment],
    programme: Programme,
    region: str,
    decisions: Sequence[Decision],
    standards: StandardsTable,
    *,
    rescinded: bool,
) -> list[Segment]:
    """What ``case_segments`` gives once a standard from ``month`` on has changed, or a
    decision effective in ``month`` has joined ``decisions``, when ``known`` are the case's
    segments before that change: no month before ``month`` moves (its amount depends on the
    standards in force then and on the decisions effective by then), so those months keep
    their segments, cut at ``month``, and only the months from it on are priced again."""
    if rescinded or not decisions:
        return []
    before = [
        segment
        if segment.valid_to is not None and segment.valid_to <= month
        else Segment(segment.valid_from, month, segment.amount, segment.status)
        for segment in sorted(known, key=lambda s: s.valid_from)
        if segment.valid_from < month
    ]
    start = max(month, decisions[0].effective)
    return _merged(before, _pieces(programme, region, decisions, standards, start))


def _pieces(
    programme: Programme,
    region: str,
    decisions: Sequence[Decision],
    standards: StandardsTable,
    start: Month,
) -> list[Segment]:
    """One piece from each change point from ``start`` on (``start`` among them) to the
    next, for the months the case is open."""
    granted = decisions[0]
    points = {d.effective for d in decisions}
    points.update(standards.change_months(programme, region))
    closing = closing_month(programme, decisions)
    if closing is not None:
        points.add(closing)
    birth_date = dict(granted.changes).get("birth_date")
    if programme is Programme.ELDERLY_ALLOWANCE and birth_date is not None:
        points.update(first_month_aged(age, birth_date) for age in ELDERLY_BAND_AGES)
    points.add(start)
    ordered = sorted(p for p in points if p >= start)

    pieces: list[Segment] = []
    states = fold_months(programme, decisions, ordered, rescinded=False)
    for begin, end, state in zip(ordered, [*ordered[1:], None], states, strict=True):
        if not state.is_open:
            continue
        amount = ZERO
        if state.is_payable and state.facts is not None and state.priced_month is not None:
            amount = monthly_amount(programme, region, state.facts, state.priced_month, standards)
        pieces.append(Segment(begin, end, amount, state.status.value))
    return pieces


def _merged(segments: list[Segment], pieces: Sequence[Segment]) -> list[Segment]:
    """``segments`` extended by ``pieces``, a piece that goes on from the last segment with
    the same amount and status lengthening it."""
    for piece in pieces:
        last = segments[-1] if segments else None
        if (
            last is not None
            and last.valid_to == piece.valid_from
            and (last.amount, last.status) == (piece.amount, piece.status)
        ):
            segments[-1] = Segment(last.valid_from, piece.valid_to, last.amount, last.status)
        else:
            segments.append(piece)
    return segments

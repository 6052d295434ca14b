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
    granted = decisions[0]
    points = {d.effective for d in decisions}
    points.update(standards.change_months(programme, region))
    closing = closing_month(programme, decisions)
    if closing is not None:
        points.add(closing)
    birth_date = dict(granted.changes).get("birth_date")
    if programme is Programme.ELDERLY_ALLOWANCE and birth_date is not None:
        points.update(first_month_aged(age, birth_date) for age in ELDERLY_BAND_AGES)
    ordered = sorted(p for p in points if p >= granted.effective)

    segments: list[Segment] = []
    states = fold_months(programme, decisions, ordered, rescinded=False)
    for start, end, state in zip(ordered, [*ordered[1:], None], states, strict=True):
        if not state.is_open:
            continue
        amount = ZERO
        if state.is_payable and state.facts is not None and state.priced_month is not None:
            amount = monthly_amount(programme, region, state.facts, state.priced_month, standards)
        last = segments[-1] if segments else None
        if (
            last is not None
            and last.valid_to == start
            and (last.amount, last.status)
            == (
                amount,
                state.status.value,
            )
        ):
            segments[-1] = Segment(last.valid_from, end, amount, last.status)
        else:
            segments.append(Segment(start, end, amount, state.status.value))
    return segments

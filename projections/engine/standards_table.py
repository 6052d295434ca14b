"""The standards in force as the projection knows them, for computing amounts."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Mapping
from decimal import Decimal

from domain.cases.programmes import Programme, dibao_programme_for
from domain.months import Month


class StandardsTable:
    """Every schedule's entries, kept current as standard events are projected in order.

    It is a ``StandardsLookup`` for ``domain.cases.amounts``.
    """

    def __init__(self) -> None:
        self._months: dict[tuple[Programme, str], list[Month]] = {}
        self._entries: dict[tuple[Programme, str, Month], dict[str, Decimal]] = {}

    def put(
        self, programme: Programme, region: str, effective: Month, parameters: Mapping[str, Decimal]
    ) -> None:
        months = self._months.setdefault((programme, region), [])
        if (programme, region, effective) not in self._entries:
            insort(months, effective)
        self._entries[programme, region, effective] = dict(parameters)

    def __call__(
        self, programme: Programme, region: str, month: Month
    ) -> Mapping[str, Decimal] | None:
        months = self._months.get((programme, region), [])
        at = bisect_right(months, month)
        return self._entries[programme, region, months[at - 1]] if at else None

    def change_months(self, programme: Programme, region: str) -> list[Month]:
        """The months in which an amount of ``programme`` in ``region`` may change with the
        standards: its own entries, and for tekun those of both dibao schedules."""
        months = list(self._months.get((programme, region), []))
        if programme is Programme.TEKUN:
            for area in ("urban", "rural"):
                months += self._months.get((dibao_programme_for(area), region), [])
        return months

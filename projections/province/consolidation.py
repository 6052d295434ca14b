"""Provincial reads across the cities' views at the province: rolls, and totals summed to the
fen, each city's figures stamped with the position they reflect; and the persons who hold,
in two cities, programmes that exclude each other in the same month.

Each city's figures are read from its own views as far as they have reached, whether or not
the city answers now: a city that is offline shows its last position, and its figures as of
then, beside the others'.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from domain.cases.programmes import Programme
from domain.months import Month
from domain.people.index import excludes
from projections.reads.period_accounts import MonthTotal, month_totals
from projections.reads.read_side import CURRENT, IN_MONTH, ReadSide, RollEntry
from projections.storage.database import ViewDatabase
from projections.storage.schema import valid_until

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CityTotals:
    """One city's totals of a month as known at ``position``, its views' position."""

    city: str
    position: int
    totals: list[MonthTotal]


@dataclass(frozen=True)
class ProgrammeTotal:
    """A programme's month across the province's cities: cases and entitled amount, and of
    the cities whose month is closed, what was paid, settled and is outstanding."""

    programme: str
    cases: int
    entitled: Decimal
    paid: Decimal
    settled: Decimal
    outstanding: Decimal


def last_recorded(views: ViewDatabase) -> datetime | None:
    """When the city recorded the last event its views at the province reflect."""
    rows = views.fetchall("SELECT recorded_at_us FROM positions ORDER BY position DESC LIMIT 1")
    return datetime.fromtimestamp(int(rows[0][0]) / 1_000_000, UTC) if rows else None


def city_totals(city: str, views: ViewDatabase, month: Month) -> CityTotals:
    position = ReadSide(views).position
    return CityTotals(city, position, month_totals(views, month, position))


def provincial_totals(cities: Sequence[CityTotals]) -> list[ProgrammeTotal]:
    """The cities' totals summed per programme (a city's regions are its own)."""
    sums: dict[str, list[Decimal | int]] = {}
    for city in cities:
        for total in city.totals:
            row = sums.setdefault(total.programme, [0, ZERO, ZERO, ZERO, ZERO])
            row[0] += total.cases
            row[1] += total.entitled
            row[2] += total.paid or ZERO
            row[3] += total.settled or ZERO
            row[4] += total.outstanding or ZERO
    return [
        ProgrammeTotal(programme, int(cases), Decimal(e), Decimal(p), Decimal(s), Decimal(o))
        for programme, (cases, e, p, s, o) in sorted(sums.items())
    ]


@dataclass(frozen=True)
class CityRoll:
    """A city's roll of a programme in one of its regions, as known at ``position``."""

    city: str
    position: int
    region: str
    entries: list[RollEntry]


def city_rolls(city: str, views: ViewDatabase, programme: str, month: Month) -> list[CityRoll]:
    """A city's rolls of ``programme`` in ``month``, region by region, as far as its views
    at the province reach."""
    read = ReadSide(views)
    position = read.position
    regions = views.fetchall(
        "SELECT DISTINCT region FROM subjects WHERE programme = ? ORDER BY region", (programme,)
    )
    rolls = [
        CityRoll(city, position, str(region), read.roll(programme, str(region), month, position))
        for (region,) in regions
    ]
    return [roll for roll in rolls if roll.entries]


@dataclass(frozen=True, order=True)
class Holding:
    """A case a person is a person of in a month, in one city."""

    city: str
    programme: str
    region: str
    case_id: str


@dataclass(frozen=True)
class Conflict:
    """A person (by reference) holding, in two or more cities, cases whose programmes exclude
    each other in the month."""

    person_ref: str
    holdings: tuple[Holding, ...]


def holdings(city: str, views: ViewDatabase, month: Month) -> dict[str, list[Holding]]:
    """Every person's cases in ``month`` in ``city``, as its views know them now."""
    position = ReadSide(views).position
    member = (
        f"p.valid_from <= ? AND {valid_until('p.')} > ? "
        "AND p.known_from <= ? AND (p.known_to IS NULL OR p.known_to > ?)"
    )
    rows = views.fetchall(
        f"SELECT DISTINCT p.person_ref, s.programme, s.region, s.subject_id "
        f"FROM subject_persons p JOIN segments s ON s.subject_id = p.subject_id "
        f"WHERE s.programme <> ? AND {member} AND {IN_MONTH} AND {CURRENT}",
        (
            Programme.TEMPORARY_RELIEF.value,
            *[month.index] * 2,
            *[position] * 2,
            *[month.index] * 2,
            *[position] * 2,
        ),
    )
    found: dict[str, list[Holding]] = defaultdict(list)
    for person_ref, programme, region, case_id in rows:
        found[str(person_ref)].append(Holding(city, str(programme), str(region), str(case_id)))
    return found


def conflicts(cities: Mapping[str, Mapping[str, list[Holding]]]) -> list[Conflict]:
    """The persons whose cases in different cities exclude each other (``cities``: each
    city's ``holdings`` of one month). Within a city the ledger refuses such a case."""
    by_person: dict[str, list[Holding]] = defaultdict(list)
    for city_holdings in cities.values():
        for person_ref, held in city_holdings.items():
            by_person[person_ref].extend(held)
    found = []
    for person_ref, held in sorted(by_person.items()):
        clashing = {
            holding
            for holding in held
            for other in held
            if other.city != holding.city
            and excludes(Programme(holding.programme), Programme(other.programme))
        }
        if clashing:
            found.append(Conflict(person_ref, tuple(sorted(clashing))))
    return found

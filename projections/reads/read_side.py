"""Reads over the bitemporal rows: any month, as known at any record time.

A row answers for month M as known at position K when its valid interval holds M and its
record interval holds K. Nothing is replayed per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from domain.months import Month
from projections.reads.known_at import recorded_by
from projections.storage.database import Row, ViewDatabase
from projections.storage.schema import valid_until

CURRENT = "s.known_from <= ? AND (s.known_to IS NULL OR s.known_to > ?)"
IN_MONTH = f"s.valid_from <= ? AND {valid_until('s.')} > ?"
OVERDUE = "known_from <= ? AND (reviewed_at IS NULL OR reviewed_at > ?) AND due < ?"


def _known(where: str, params: Sequence[object], position: int) -> tuple[str, list[object]]:
    """The segments matching ``where`` as known at ``position``, as a subquery of two index
    ranges: the rows still known, and those superseded after the position."""
    subquery = (
        f"(SELECT * FROM segments s WHERE {where} AND s.known_from <= ? AND s.known_to IS NULL "
        f"UNION ALL SELECT * FROM segments s WHERE {where} AND s.known_from <= ? "
        f"AND s.known_to > ?) s"
    )
    return subquery, [*params, position, *params, position, position]


class NotYetProjectedError(Exception):
    """The views have not reached the position a caller asked to read at."""


@dataclass(frozen=True)
class RollEntry:
    subject_id: str
    amount: Decimal
    status: str


@dataclass(frozen=True)
class Entitlement:
    subject_id: str
    programme: str
    region: str
    amount: Decimal
    status: str


@dataclass(frozen=True)
class OverdueReview:
    relief_id: str
    region: str
    relief_date: date
    due: date


@dataclass(frozen=True)
class HouseholdReview:
    """A dibao or tekun case due for re-verification in a month, or overdue (due earlier);
    ``verified_on`` None: never verified (granted before verifications)."""

    case_id: str
    programme: str
    region: str
    verified_on: date | None
    verification_id: str | None
    due: Month
    at_or_above_standard: bool


@dataclass(frozen=True)
class Total:
    programme: str
    region: str
    month: Month
    entitled: Decimal
    cases: int
    position: int


@dataclass(frozen=True)
class RollSummary:
    """A whole roll, however it is paged: how many cases, and their amounts summed."""

    cases: int
    entitled: Decimal


def _money(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _page(offset: int, limit: int | None) -> tuple[str, list[object]]:
    """The LIMIT and OFFSET clause of a page; no limit: every row (from the first)."""
    if limit is None:
        if offset:
            raise ValueError("an offset needs a limit")
        return "", []
    return " LIMIT ? OFFSET ?", [limit, offset]


def views_position(views: ViewDatabase) -> int:
    """The position the views have reached: the least of their tracking rows, the single
    projector's alone, or each projection worker's unit's (``projections.engine.workers``)."""
    rows = views.fetchall("SELECT MIN(position) FROM tracking")
    return int(rows[0][0] or 0) if rows else 0


def _entitlements_query(person_ref: str, as_of: Month, position: int) -> tuple[str, list[object]]:
    member = (
        f"p.valid_from <= ? AND {valid_until('p.')} > ? "
        "AND p.known_from <= ? AND (p.known_to IS NULL OR p.known_to > ?)"
    )
    return (
        f"SELECT s.subject_id, s.programme, s.region, s.amount_fen, s.status "
        f"FROM subject_persons p JOIN segments s ON s.subject_id = p.subject_id "
        f"WHERE p.person_ref = ? AND {member} AND {IN_MONTH} AND {CURRENT} "
        f"ORDER BY s.programme, s.subject_id",
        [person_ref, *[as_of.index] * 2, *[position] * 2, *[as_of.index] * 2, *[position] * 2],
    )


def _entitlements(rows: list[Row]) -> list[Entitlement]:
    return [
        Entitlement(subject, programme, region, _money(fen), status)
        for subject, programme, region, fen, status in rows
    ]


class ReadSide:
    """Queries of the views. ``reached``, when given, tells the views' position without a
    query: the service's own poller knows it, at most one poll behind."""

    def __init__(self, views: ViewDatabase, reached: Callable[[], int] | None = None) -> None:
        self.views = views
        self._reached = reached

    # Record time.

    @property
    def knows_position(self) -> bool:
        """Whether ``position`` is told without a query."""
        return self._reached is not None

    @property
    def position(self) -> int:
        """The ledger position the views have reached."""
        if self._reached is not None:
            return self._reached()
        return views_position(self.views)

    def wait_for(self, position: int, timeout: float = 5.0) -> int:
        """Block until the views reach ``position`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        while (reached := self.position) < position:
            if time.monotonic() >= deadline:
                raise NotYetProjectedError(
                    f"the views are at position {reached}, not yet {position}; try again"
                )
            time.sleep(0.01)
        return reached

    def known_position(
        self, known_at: datetime | date | None = None, known_at_position: int | None = None
    ) -> int:
        """The ledger position a query reads at: everything recorded by ``known_at`` (a
        timestamp, or a date: see ``known_at``), or ``known_at_position``, or everything the
        views know now."""
        if known_at is not None and known_at_position is not None:
            raise ValueError("give known_at or known_at_position, not both")
        reached = self.position
        if known_at_position is not None:
            if known_at_position > reached:
                raise NotYetProjectedError(
                    f"the views are at position {reached}, not yet {known_at_position}"
                )
            return known_at_position
        if known_at is None:
            return reached
        bound, inclusive = recorded_by(known_at)
        operator = "<=" if inclusive else "<"
        rows = self.views.fetchall(
            f"SELECT MAX(position) FROM positions WHERE recorded_at_us {operator} ?", (bound,)
        )
        # Projection workers write the positions ahead of the partitions' rows.
        return min(int(rows[0][0] or 0), reached)

    def position_before(self, originator_id: str) -> int | None:
        """The position just before an aggregate's first event: for an idempotency record,
        the position of the decision saved with it."""
        rows = self.views.fetchall(
            "SELECT MAX(p.position) FROM positions p WHERE p.position < "
            "(SELECT position FROM positions WHERE originator_id = ? AND originator_version = 1)",
            (originator_id,),
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def version_at(self, originator_id: str, position: int) -> int | None:
        """The version an aggregate had at a ledger position (None: it did not exist yet)."""
        rows = self.views.fetchall(
            "SELECT MAX(originator_version) FROM positions WHERE originator_id = ? "
            "AND position <= ?",
            (originator_id, position),
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # Queries.

    def subject_month(self, subject_id: str, as_of: Month, position: int) -> RollEntry | None:
        """A case's (or relief's) amount and status in ``as_of`` as known at ``position``."""
        rows = self.views.fetchall(
            f"SELECT subject_id, amount_fen, status FROM segments s "
            f"WHERE subject_id = ? AND {IN_MONTH} AND {CURRENT}",
            (subject_id, as_of.index, as_of.index, position, position),
        )
        return RollEntry(rows[0][0], _money(rows[0][1]), rows[0][2]) if rows else None

    def roll(
        self,
        programme: str,
        region: str,
        as_of: Month,
        position: int,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[RollEntry]:
        """The open cases of a programme and region in ``as_of``, as known at ``position``, in
        case order: ``limit`` of them (None: all) from the ``offset``-th."""
        known, params = self._roll(programme, region, as_of, position)
        page, page_params = _page(offset, limit)
        rows = self.views.fetchall(
            f"SELECT subject_id, amount_fen, status FROM {known} ORDER BY subject_id{page}",
            [*params, *page_params],
        )
        return [RollEntry(subject, _money(fen), status) for subject, fen, status in rows]

    def roll_summary(self, programme: str, region: str, as_of: Month, position: int) -> RollSummary:
        """How many cases the whole roll holds, and their amounts summed."""
        known, params = self._roll(programme, region, as_of, position)
        rows = self.views.fetchall(f"SELECT COUNT(*), SUM(amount_fen) FROM {known}", params)
        return RollSummary(int(rows[0][0]), _money(int(rows[0][1] or 0)))

    def _roll(
        self, programme: str, region: str, as_of: Month, position: int
    ) -> tuple[str, list[object]]:
        return _known(
            f"s.programme = ? AND s.region = ? AND {IN_MONTH}",
            (programme, region, as_of.index, as_of.index),
            position,
        )

    def entitlements(self, person_ref: str, as_of: Month, position: int) -> list[Entitlement]:
        """What a person is entitled to across programmes in ``as_of``: the cases and
        reliefs they are a person of in that month (a household member who joined later or
        left before is not), as known at ``position``."""
        return _entitlements(self.views.fetchall(*_entitlements_query(person_ref, as_of, position)))

    async def entitlements_on_loop(
        self, person_ref: str, as_of: Month, position: int
    ) -> list[Entitlement]:
        """``entitlements``, awaited on the running event loop (``fetchall_on_loop``)."""
        query = _entitlements_query(person_ref, as_of, position)
        return _entitlements(await self.views.fetchall_on_loop(*query))

    def totals(
        self,
        as_of: Month,
        position: int,
        programme: str | None = None,
        region: str | None = None,
    ) -> list[Total]:
        """Entitled amount and open cases per programme and region in ``as_of``."""
        where = IN_MONTH
        where_params: list[object] = [as_of.index, as_of.index]
        if programme is not None:
            where += " AND s.programme = ?"
            where_params.append(programme)
        if region is not None:
            where += " AND s.region = ?"
            where_params.append(region)
        known, params = _known(where, where_params, position)
        rows = self.views.fetchall(
            f"SELECT programme, region, SUM(amount_fen), COUNT(*) FROM {known} "
            f"GROUP BY programme, region ORDER BY programme, region",
            params,
        )
        return [
            Total(programme_, region_, as_of, _money(int(fen)), int(cases), position)
            for programme_, region_, fen, cases in rows
        ]

    def overdue_reviews(
        self,
        today: date,
        position: int,
        offset: int = 0,
        limit: int | None = None,
        regions: frozenset[str] | None = None,
    ) -> list[OverdueReview]:
        """Emergency relief not yet reviewed, whose review was due before ``today``, in order
        of due date: ``limit`` of them (None: all) from the ``offset``-th, in ``regions``
        (None: every region)."""
        page, page_params = _page(offset, limit)
        in_regions, region_params = _in_regions(regions)
        rows = self.views.fetchall(
            f"SELECT relief_id, region, relief_date, due FROM relief_reviews WHERE {OVERDUE}"
            f"{in_regions} ORDER BY due, relief_id{page}",
            [position, position, today.isoformat(), *region_params, *page_params],
        )
        return [
            OverdueReview(relief_id, region, date.fromisoformat(day), date.fromisoformat(due))
            for relief_id, region, day, due in rows
        ]

    def household_reviews(
        self,
        as_of: Month,
        position: int,
        *,
        exit_candidates: bool = False,
        offset: int = 0,
        limit: int | None = None,
        regions: frozenset[str] | None = None,
    ) -> list[HouseholdReview]:
        """Open dibao and tekun cases whose last verification, as known at ``position``,
        makes them due for review in ``as_of`` or earlier, in order of due month; with
        ``exit_candidates``, instead those whose last verification found the income at or
        above the standard. ``limit`` of them (None: all) from the ``offset``-th, in
        ``regions`` (None: every region)."""
        where, params = self._reviews_where(as_of, position, exit_candidates, regions)
        page, page_params = _page(offset, limit)
        rows = self.views.fetchall(
            "SELECT r.case_id, s.programme, s.region, r.made_on, r.verification_id, r.due,"
            f" r.at_or_above {where} ORDER BY r.due, r.case_id{page}",
            [*params, *page_params],
        )
        return [
            HouseholdReview(
                case_id,
                programme,
                region,
                date.fromisoformat(made_on) if made_on is not None else None,
                verification_id,
                Month(int(due)),
                bool(at_or_above),
            )
            for case_id, programme, region, made_on, verification_id, due, at_or_above in rows
        ]

    def household_review_count(
        self,
        as_of: Month,
        position: int,
        *,
        exit_candidates: bool = False,
        regions: frozenset[str] | None = None,
    ) -> int:
        where, params = self._reviews_where(as_of, position, exit_candidates, regions)
        return int(self.views.fetchall(f"SELECT COUNT(*) {where}", params)[0][0])

    @staticmethod
    def _reviews_where(
        as_of: Month, position: int, exit_candidates: bool, regions: frozenset[str] | None
    ) -> tuple[str, list[object]]:
        known, known_params = _known(IN_MONTH, [as_of.index, as_of.index], position)
        in_regions, region_params = _in_regions(regions)
        chosen = "r.at_or_above = 1" if exit_candidates else "r.due <= ?"
        chosen_params: list[object] = [] if exit_candidates else [as_of.index]
        return (
            f"FROM {_LATEST_REVIEWS} JOIN {known} ON s.subject_id = r.case_id"
            f" WHERE {_OPEN_TO_REVIEW} AND {chosen}{in_regions.replace('region', 's.region')}",
            [position, *known_params, *chosen_params, *region_params],
        )

    def unanswered_verifications(self, position: int, limit: int) -> list[str]:
        """The ids of verifications requested of the platform, known at ``position``, whose
        answer is not recorded yet, the oldest first."""
        rows = self.views.fetchall(
            "SELECT verification_id FROM verification_requests WHERE known_from <= ?"
            " AND answered_at IS NULL ORDER BY known_from LIMIT ?",
            (position, limit),
        )
        return [verification_id for (verification_id,) in rows]

    def overdue_review_count(
        self, today: date, position: int, regions: frozenset[str] | None = None
    ) -> int:
        in_regions, region_params = _in_regions(regions)
        rows = self.views.fetchall(
            f"SELECT COUNT(*) FROM relief_reviews WHERE {OVERDUE}{in_regions}",
            (position, position, today.isoformat(), *region_params),
        )
        return int(rows[0][0])


# The latest verification of each case known at a position (latest made, then recorded),
# with the case's segment in the month asked for as known then: open and not leaving.
_LATEST_REVIEWS = (
    "(SELECT case_id, verification_id, made_on, due, at_or_above, ROW_NUMBER() OVER"
    " (PARTITION BY case_id ORDER BY COALESCE(made_on, '') DESC, known_from DESC) AS n"
    " FROM household_reviews WHERE known_from <= ?) r"
)
_OPEN_TO_REVIEW = "r.n = 1 AND s.status IN ('paying', 'suspended')"


def _in_regions(regions: frozenset[str] | None) -> tuple[str, list[str]]:
    """A filter to ``regions`` (None: no filter; none at all: nothing passes)."""
    if regions is None:
        return "", []
    if not regions:
        return " AND 1 = 0", []
    return f" AND region IN ({', '.join('?' for _ in regions)})", sorted(regions)

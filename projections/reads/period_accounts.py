"""What was entitled, paid, settled and is outstanding for every closed month, per programme
and region (``Accounts.closed_months``) and per case (``case_account``).

For a closed month: ``entitled now = paid + settled + outstanding``, where ``paid`` is the
month's own amounts on its period's lines, ``settled`` the arrears minus recoveries later
periods settled for it, and ``outstanding`` what changed since the last close. A case's
account is computed the same way from the same rows, restricted to the case, so that the
accounts of a programme's and region's cases add up to its month totals.

A bank's return undoes what its line sent: ``paid`` and ``settled`` are net of returned
lines, and a case with a return has ``outstanding = entitled now - paid - settled`` from
its own lines (``payroll_lines.sent_accounts``). Beside them, under the months they were
for: ``returned`` (what returns undid), ``held`` (what held lines would have paid) and
``reissued`` (arrears paid to a case on lines computed after its first return).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from domain.cases.programmes import Programme
from domain.money import ZERO
from domain.months import Month
from domain.payroll_periods import PayrollLine
from projections.reads.payroll_lines import (
    AMOUNT,
    ARREARS,
    HELD,
    RECOVERY,
    SEGMENT_IN_PERIOD,
    period_items,
    returned_subjects,
    sent_accounts,
)
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class MonthAccount:
    programme: str
    region: str
    month: Month
    entitled: Decimal  # as known at the position read
    paid: Decimal  # net of lines the bank returned
    arrears: Decimal  # settled later as arrears, net of lines the bank returned
    recoveries: Decimal  # settled later as recoveries to collect
    outstanding: Decimal
    returned: Decimal = ZERO  # what the bank's returns undid
    held: Decimal = ZERO  # what lines held after a return would have paid
    reissued: Decimal = ZERO  # arrears paid after a return of the case

    @property
    def settled(self) -> Decimal:
        return self.arrears - self.recoveries

    @property
    def balances(self) -> bool:
        return self.entitled == self.paid + self.settled + self.outstanding


@dataclass(frozen=True)
class Period:
    programme: str
    region: str
    month: Month
    position: int
    closed_at: int
    line_count: int
    month_total: Decimal
    arrears: Decimal
    recoveries: Decimal
    digest: str
    recomputed_digest: str

    @property
    def digest_matches(self) -> bool:
        return self.digest == self.recomputed_digest


@dataclass(frozen=True)
class _Returns:
    """Per month index, in fen: own amounts and arrears the bank returned, arrears reissued,
    and what the returned cases' outstanding differs by from the change since the last
    close."""

    paid: defaultdict[int, int]
    arrears: defaultdict[int, int]
    reissued: defaultdict[int, int]
    correction: defaultdict[int, int]


class Accounts:
    def __init__(self, views: ViewDatabase) -> None:
        self.views = views

    def periods(
        self, position: int, programme: str | None = None, region: str | None = None
    ) -> list[Period]:
        """The periods closed as known at ``position``."""
        filters = ""
        params: list[int | str] = [position]
        for column, value in (("programme", programme), ("region", region)):
            if value is not None:
                filters += f" AND {column} = ?"
                params.append(value)
        rows = self.views.fetchall(
            "SELECT programme, region, month, position, closed_at, line_count, month_total_fen,"
            " arrears_fen, recoveries_fen, digest, recomputed_digest FROM periods "
            f"WHERE closed_at <= ?{filters} ORDER BY programme, region, month",
            params,
        )
        return [
            Period(p, r, Month(m), pos, closed, count, _yuan(t), _yuan(a), _yuan(rec), d, rd)
            for p, r, m, pos, closed, count, t, a, rec, d, rd in rows
        ]

    def closed_months(
        self,
        position: int,
        programme: str | None = None,
        region: str | None = None,
        *,
        year: int | None = None,
    ) -> list[MonthAccount]:
        """The months closed as known at ``position`` (those of ``year`` only, when given:
        a decade's months cost ten times a year's)."""
        by_schedule: dict[tuple[str, str], list[Period]] = defaultdict(list)
        for period in self.periods(position, programme, region):
            by_schedule[period.programme, period.region].append(period)
        accounts: list[MonthAccount] = []
        for (programme_, region_), every_period in by_schedule.items():
            # What was settled by the schedule's last close, whichever month it closed.
            last_close = max(p.position for p in every_period)
            periods = [p for p in every_period if year is None or p.month.year == year]
            if not periods:
                continue
            first, last = periods[0].month, periods[-1].month
            now = self._entitled(programme_, region_, first, last, position)
            then = self._entitled(programme_, region_, first, last, last_close)
            settled = self._settled(programme_, region_, position)
            returns = self._returns(programme_, region_, last, position, last_close)
            for period in periods:
                month = period.month.index
                accounts.append(
                    MonthAccount(
                        programme_,
                        region_,
                        period.month,
                        _yuan(now.get(month, 0)),
                        _yuan(settled.get((month, AMOUNT), 0) - returns.paid[month]),
                        _yuan(settled.get((month, ARREARS), 0) - returns.arrears[month]),
                        _yuan(settled.get((month, RECOVERY), 0)),
                        _yuan(now.get(month, 0) - then.get(month, 0) + returns.correction[month]),
                        _yuan(returns.paid[month] + returns.arrears[month]),
                        _yuan(settled.get((month, HELD), 0)),
                        _yuan(returns.reissued[month]),
                    )
                )
        return accounts

    def _returns(
        self, programme: str, region: str, last: Month, position: int, last_close: int
    ) -> _Returns:
        """What the bank's returns known at ``position`` change in the closed months up to
        ``last``, the last closed at ``last_close``."""
        found = _Returns(defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int))
        subjects = sorted(returned_subjects(self.views, programme, region, position, last_close))
        now = sent_accounts(self.views, programme, region, last + 1, position, subjects)
        then = sent_accounts(self.views, programme, region, last + 1, last_close, subjects)
        for subject_id in subjects:
            # Such a case's outstanding is what its lines left unsent, not the change since
            # the last close that the other cases' outstanding is.
            sent, known = now[subject_id], then[subject_id]
            for month in set(known.entitled) | set(sent.paid) | set(sent.settled):
                found.correction[month] += (
                    known.entitled.get(month, 0)
                    - sent.paid.get(month, 0)
                    - sent.settled.get(month, 0)
                )
        returned = (
            " FROM payment_returns r JOIN periods p ON p.programme = r.programme"
            " AND p.region = r.region AND p.month = r.period"
        )
        for month, fen in self.views.fetchall(
            # A returned line paid its own amount: a held line sends nothing to return.
            f"SELECT p.month, SUM(s.amount_fen){returned} JOIN segments s"
            f" ON s.subject_id = r.subject_id AND {SEGMENT_IN_PERIOD}"
            " WHERE r.programme = ? AND r.region = ? AND r.known_from <= ? GROUP BY p.month",
            (programme, region, position),
        ):
            found.paid[int(month)] += int(fen)
        for month, fen in self.views.fetchall(
            f"SELECT i.corrected_month, SUM(i.amount_fen){returned}"
            " JOIN payroll_items i ON i.programme = r.programme AND i.region = r.region"
            " AND i.period = r.period AND i.subject_id = r.subject_id"
            " WHERE r.programme = ? AND r.region = ? AND r.known_from <= ?"
            " AND i.kind = ? GROUP BY i.corrected_month",
            (programme, region, position, ARREARS),
        ):
            found.arrears[int(month)] += int(fen)
        for month, fen in self.views.fetchall(
            "SELECT i.corrected_month, SUM(i.amount_fen) FROM payroll_items i"
            " JOIN periods p ON p.programme = i.programme AND p.region = i.region"
            " AND p.month = i.period"
            " WHERE i.programme = ? AND i.region = ? AND i.kind = ? AND p.closed_at <= ?"
            " AND p.position > (SELECT MIN(r.known_from) FROM payment_returns r"
            " WHERE r.subject_id = i.subject_id AND r.known_from <= ?)"
            " AND NOT EXISTS (SELECT 1 FROM payment_returns r WHERE r.programme = i.programme"
            " AND r.region = i.region AND r.period = i.period AND r.subject_id = i.subject_id"
            " AND r.known_from <= ?) GROUP BY i.corrected_month",
            (programme, region, ARREARS, position, position, position),
        ):
            found.reissued[int(month)] += int(fen)
        return found

    def _entitled(
        self, programme: str, region: str, first: Month, last: Month, position: int
    ) -> dict[int, int]:
        """Per month from ``first`` to ``last``, the sum of the segments known at
        ``position``. One pass over the schedule's segments, summed where each starts and
        ends: joining every month to the segments that cover it cost the months times the
        segments, most of a decade's verification."""
        end = last.index + 1
        changes: defaultdict[int, int] = defaultdict(int)
        for valid_from, valid_to, fen in self.views.fetchall(
            "SELECT valid_from, valid_to, SUM(amount_fen) FROM segments"
            " WHERE programme = ? AND region = ? AND valid_from < ?"
            " AND (valid_to IS NULL OR valid_to > ?)"
            " AND known_from <= ? AND (known_to IS NULL OR known_to > ?)"
            " GROUP BY valid_from, valid_to",
            (programme, region, end, first.index, position, position),
        ):
            changes[max(int(valid_from), first.index)] += int(fen)
            if valid_to is not None and int(valid_to) < end:
                changes[int(valid_to)] -= int(fen)
        entitled, running = {}, 0
        for month in range(first.index, end):
            running += changes.get(month, 0)
            entitled[month] = running
        return entitled

    def _settled(self, programme: str, region: str, position: int) -> dict[tuple[int, str], int]:
        """Own amounts (under their period) and settlements (under the month they correct)."""
        closed = "p.programme = ? AND p.region = ? AND p.closed_at <= ?"
        rows = self.views.fetchall(
            "SELECT i.corrected_month, i.kind, SUM(i.amount_fen) FROM payroll_items i"
            " JOIN periods p ON p.programme = i.programme AND p.region = i.region"
            f" AND p.month = i.period WHERE {closed} GROUP BY i.corrected_month, i.kind",
            (programme, region, position),
        )
        settled = {(int(month), kind): int(fen) for month, kind, fen in rows}
        for month, fen in self.views.fetchall(
            f"SELECT p.month, p.own_amounts_fen FROM periods p WHERE {closed}",
            (programme, region, position),
        ):
            if fen:
                settled[int(month), AMOUNT] = int(fen)
        return settled

    def lines(
        self,
        programme: str,
        region: str,
        month: Month,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[tuple[PayrollLine, str]]:
        """A closed period's lines in case order, each with the reference of the case's
        first person (the applicant): ``limit`` of them (None: all) from the ``offset``-th."""
        position = self._closed_at(programme, region, month)
        if position is None:
            return []
        items, params = period_items(programme, region, month, position)
        cases: str = ""
        cases_params: list[int] = []
        if limit is not None:
            cases = (
                " WHERE i.subject_id IN (SELECT DISTINCT subject_id FROM items"
                " ORDER BY subject_id LIMIT ? OFFSET ?)"
            )
            cases_params = [limit, offset]
        elif offset:
            raise ValueError("an offset needs a limit")
        rows = self.views.fetchall(
            f"WITH items AS ({items})"
            " SELECT i.subject_id, i.kind, SUM(i.amount_fen), MIN(sp.holder) FROM items i"
            # One row a case: it has an applicant row for each change of its members.
            " LEFT JOIN (SELECT subject_id, MIN(person_ref) AS holder FROM subject_persons"
            " WHERE ordinal = 0 AND subject_id IN (SELECT subject_id FROM items)"
            " GROUP BY subject_id) sp ON sp.subject_id = i.subject_id"
            f"{cases} GROUP BY i.subject_id, i.kind ORDER BY i.subject_id",
            [*params, *cases_params],
        )
        fen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        holders: dict[str, str] = {}
        for subject_id, kind, amount, holder in rows:
            fen[subject_id][kind] += int(amount)
            holders[subject_id] = holder or ""
        return [
            (
                PayrollLine(
                    subject_id,
                    _yuan(kinds[AMOUNT]),
                    _yuan(kinds[ARREARS]),
                    _yuan(kinds[RECOVERY]),
                    _yuan(kinds[HELD]),
                ),
                holders[subject_id],
            )
            for subject_id, kinds in fen.items()
        ]

    def line_count(self, programme: str, region: str, month: Month) -> int:
        """How many lines a closed period has in the views."""
        position = self._closed_at(programme, region, month)
        if position is None:
            return 0
        items, params = period_items(programme, region, month, position)
        rows = self.views.fetchall(f"SELECT COUNT(DISTINCT subject_id) FROM ({items}) i", params)
        return int(rows[0][0])

    def _closed_at(self, programme: str, region: str, month: Month) -> int | None:
        """The position a closed period's lines were computed at (None: not closed)."""
        rows = self.views.fetchall(
            "SELECT position FROM periods WHERE programme = ? AND region = ? AND month = ?",
            (programme, region, month.index),
        )
        return int(rows[0][0]) if rows else None


@dataclass(frozen=True)
class CaseMonth:
    """A month of a case's account. Once its programme and region have closed the month:
    what its own line paid, what later periods settled for it as arrears and listed as
    recoveries to collect, and what is outstanding; before, None for each of those."""

    month: Month
    status: str | None  # the case's status in the month (None: not open in it)
    entitled: Decimal
    paid: Decimal | None
    arrears: Decimal | None
    recoveries: Decimal | None
    outstanding: Decimal | None

    @property
    def closed(self) -> bool:
        return self.paid is not None

    @property
    def settled(self) -> Decimal | None:
        if self.arrears is None or self.recoveries is None:
            return None
        return self.arrears - self.recoveries


@dataclass(frozen=True)
class CaseAccount:
    subject_id: str
    programme: str
    region: str
    position: int
    months: list[CaseMonth]


_SegmentRow = tuple[int, int | None, int, str, int, int | None]  # from, to, fen, status, known


def _known(row: _SegmentRow, position: int | None) -> bool:
    return position is not None and row[4] <= position and (row[5] is None or row[5] > position)


def _in_month(rows: list[_SegmentRow], month: int) -> _SegmentRow | None:
    for row in rows:
        if row[0] <= month and (row[1] is None or row[1] > month):
            return row
    return None


def case_account(
    views: ViewDatabase, subject_id: str, position: int, as_of: Month
) -> CaseAccount | None:
    """A case's months up to ``as_of``, as known at ``position``: each month it is open in,
    and each closed month something was paid or settled for, or is outstanding (a rescinded
    case keeps those: they show what is to recover). None when no such case was known at
    ``position`` (a relief is not a case)."""
    subject = views.fetchall(
        "SELECT programme, region FROM subjects WHERE subject_id = ? AND programme <> ?"
        " AND EXISTS (SELECT 1 FROM positions WHERE originator_id = ? AND position <= ?)",
        (subject_id, Programme.TEMPORARY_RELIEF.value, subject_id, position),
    )
    if not subject:
        return None
    programme, region = str(subject[0][0]), str(subject[0][1])
    periods = Accounts(views).periods(position, programme, region)
    closed = {period.month.index for period in periods}
    last_close = max((period.position for period in periods), default=None)
    rows: list[_SegmentRow] = [
        (int(start), None if end is None else int(end), int(fen), str(status), int(k0), k1)
        for start, end, fen, status, k0, k1 in views.fetchall(
            "SELECT valid_from, valid_to, amount_fen, status, known_from, known_to "
            "FROM segments WHERE subject_id = ?",
            (subject_id,),
        )
    ]
    now = [row for row in rows if _known(row, position)]
    then = [row for row in rows if _known(row, last_close)]
    settled: dict[tuple[int, str], int] = defaultdict(int)
    held_back: dict[int, int] = {}  # a returned case's outstanding, from what its lines sent
    if closed:  # one seek of the primary key per closed period, not a scan of the schedule's
        marks = ", ".join("?" for _ in closed)
        for month, kind, fen in views.fetchall(
            "SELECT corrected_month, kind, amount_fen FROM payroll_items"
            f" WHERE programme = ? AND region = ? AND period IN ({marks}) AND subject_id = ?",
            (programme, region, *sorted(closed), subject_id),
        ):
            settled[int(month), str(kind)] += int(fen)
    # The own amounts, from the segments known at each close. A line that held its own
    # amount is a case's with a return, whose paid is what its lines sent (below).
    for period in periods:
        own = _in_month([row for row in rows if _known(row, period.position)], period.month.index)
        if own is not None and own[2]:
            settled[period.month.index, AMOUNT] += own[2]
    if closed and has_returns(views, subject_id, position):
        # A case with a bank's return: its account is what its own lines sent.
        sent = sent_accounts(
            views, programme, region, Month(max(closed)) + 1, position, [subject_id]
        )[subject_id]
        for month in closed:
            if (month, AMOUNT) in settled:
                settled[month, AMOUNT] = sent.paid.get(month, 0)
            if (month, ARREARS) in settled:
                recoveries = settled.get((month, RECOVERY), 0)
                settled[month, ARREARS] = sent.settled.get(month, 0) + recoveries
            held_back[month] = sent.outstanding(month)
    end = as_of.index + 1
    months = {month for month, _kind in list(settled) if month < end}
    for start, until, *_ in now:
        months.update(range(start, end if until is None else min(until, end)))
    for start, until, *_ in then:  # what the last close knew, for what is outstanding
        months.update(
            m for m in range(start, end if until is None else min(until, end)) if m in closed
        )
    account = []
    for month in sorted(months):
        current = _in_month(now, month)
        status, entitled = (current[3], current[2]) if current else (None, 0)
        if month not in closed:
            account.append(CaseMonth(Month(month), status, _yuan(entitled), None, None, None, None))
            continue
        before = _in_month(then, month)
        outstanding = held_back.get(month, entitled - (before[2] if before else 0))
        account.append(
            CaseMonth(
                Month(month),
                status,
                _yuan(entitled),
                _yuan(settled[month, AMOUNT]),
                _yuan(settled[month, ARREARS]),
                _yuan(settled[month, RECOVERY]),
                _yuan(outstanding),
            )
        )
    return CaseAccount(subject_id, programme, region, position, account)


def has_returns(views: ViewDatabase, subject_id: str, position: int) -> bool:
    """Whether the bank returned a line of the case, as known at ``position``."""
    return bool(
        views.fetchall(
            "SELECT 1 FROM payment_returns WHERE subject_id = ? AND known_from <= ?",
            (subject_id, position),
        )
    )


@dataclass(frozen=True)
class Reconciliation:
    programme: str
    year: int
    entitled: Decimal
    paid: Decimal
    arrears: Decimal
    recoveries: Decimal
    outstanding: Decimal
    returned: Decimal = ZERO
    held: Decimal = ZERO
    reissued: Decimal = ZERO


def reconcile(accounts: Iterable[MonthAccount]) -> list[Reconciliation]:
    """Closed months summed per programme and year, over every region."""
    sums: dict[tuple[str, int], list[Decimal]] = defaultdict(lambda: [Decimal("0.00")] * 8)
    for account in accounts:
        row = sums[account.programme, account.month.year]
        for index, value in enumerate(
            (
                account.entitled,
                account.paid,
                account.arrears,
                account.recoveries,
                account.outstanding,
                account.returned,
                account.held,
                account.reissued,
            )
        ):
            row[index] += value
    return [Reconciliation(p, y, *values) for (p, y), values in sorted(sums.items())]


@dataclass(frozen=True)
class MonthTotal:
    """A programme and region in one month: what is entitled and, once the month is closed,
    what was paid, settled and is outstanding (None while it is open)."""

    programme: str
    region: str
    month: Month
    cases: int
    entitled: Decimal
    paid: Decimal | None
    settled: Decimal | None
    outstanding: Decimal | None


def month_totals(
    views: ViewDatabase,
    month: Month,
    position: int,
    programme: str | None = None,
    region: str | None = None,
) -> list[MonthTotal]:
    """Every programme and region with open cases in ``month``, or a closed ``month`` whose
    entitled, paid, settled or outstanding is not zero: a month whose cases all left later
    (a late exit, a rescission) still shows what was paid and is to be recovered."""
    open_cases = {
        (t.programme, t.region): t
        for t in ReadSide(views).totals(month, position, programme, region)
    }
    closed = {
        (a.programme, a.region): a
        for a in Accounts(views).closed_months(position, programme, region, year=month.year)
        if a.month == month
    }
    totals = []
    for key in sorted(open_cases.keys() | closed.keys()):
        total, account = open_cases.get(key), closed.get(key)
        if total is None and account is not None and not _any_money(account):
            continue
        totals.append(
            MonthTotal(
                key[0],
                key[1],
                month,
                total.cases if total else 0,
                total.entitled if total else account.entitled if account else ZERO,
                account.paid if account else None,
                account.settled if account else None,
                account.outstanding if account else None,
            )
        )
    return totals


def _any_money(account: MonthAccount) -> bool:
    return any((account.entitled, account.paid, account.settled, account.outstanding))

"""Payroll lines, computed from the bitemporal segments at a ledger position.

For a period (programme, region, month M) closed at position P, after the previous close of
that programme and region at P_prev, a case's line holds:
- its own amount: the entitlement for M as known at P;
- arrears and recoveries: for every earlier closed month M', the entitlement for M' as known
  at P minus as known at P_prev. Each close settles everything outstanding at its P, so
  ``paid + settled`` for a closed month is always its entitlement as known at the last close,
  and ``outstanding = entitled now - entitled as known at the last close``.
Positive differences are paid as arrears, negative ones listed as recoveries; never netted.

A case with a bank's return known at P is settled from what its lines actually sent
instead: for each closed month M', ``outstanding = entitled(M', P) - paid(M') -
settled(M')``, where the lines the bank returned count for nothing (their recoveries still
count). While a return is not followed by a payee change known at P, the case is held: its
line pays, settles and lists nothing, and holds the month's amount plus the arrears it
would have paid (kind ``held``), which stay outstanding.

The views store a closed period's arrears, recoveries and held amounts (``payroll_items``),
not its own amounts: those are the segments known at the period's position in its month
(``period_items``), except the cases whose line held that amount.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from domain.months import Month
from domain.payroll_periods import PayrollLine
from projections.storage.database import Reader
from projections.storage.schema import valid_until

CHUNK = 500
AMOUNT, ARREARS, RECOVERY, HELD = "amount", "arrears", "recovery", "held"

SEGMENT_IN_PERIOD = (
    f"s.valid_from <= p.month AND {valid_until('s.')} > p.month AND s.known_from <= p.position"
    " AND (s.known_to IS NULL OR s.known_to > p.position) AND s.amount_fen <> 0"
)
"""Segment ``s`` of a case is the case's own amount on its line of period ``p`` (a row of
``periods``): its entitlement in the period's month as known at the period's position."""


@dataclass(frozen=True)
class PriorClose:
    """What the lines of a new period depend on from the periods closed before it."""

    first_month: Month
    position: int  # P of the latest close


class PayrollItem(NamedTuple):  # a tuple: a close makes one for each of its cases' amounts
    subject_id: str
    corrected_month: Month
    kind: str
    amount_fen: int


@lru_cache(maxsize=1 << 16)  # the same few amounts recur on thousands of lines
def _fen_to_yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)  # exactly two places, as quantizing fen / 100 gives


def prior_close(cursor: Reader, programme: str, region: str, month: Month) -> PriorClose | None:
    rows = cursor.fetchall(
        "SELECT MIN(month), MAX(position) FROM periods "
        "WHERE programme = ? AND region = ? AND month < ?",
        (programme, region, month.index),
    )
    if rows[0][0] is None:
        return None
    return PriorClose(Month(int(rows[0][0])), int(rows[0][1]))


PeriodKey = tuple[str, str, Month, int, PriorClose | None]
"""A period's items are a function of its programme, region, month, position and prior
close: the views' rows known at the position do not change as later events are projected."""


class ComputedItems:
    """Items a close computed from the views, kept until the projection records that close,
    so that it need not compute the same items again at the same position.

    Taking an entry removes it; an entry whose close is never projected here (a rival
    projector took it) costs only memory until the holder lets go of this."""

    def __init__(self) -> None:
        self._items: dict[PeriodKey, list[PayrollItem]] = {}

    def keep(self, key: PeriodKey, items: list[PayrollItem]) -> None:
        self._items[key] = items

    def take(self, key: PeriodKey) -> list[PayrollItem] | None:
        return self._items.pop(key, None)


def payroll_items(
    cursor: Reader,
    programme: str,
    region: str,
    month: Month,
    position: int,
    computed: ComputedItems | None = None,
) -> tuple[list[PayrollItem], bool]:
    """Every amount, arrear and recovery of the period, as known at ``position``, after the
    closes the views hold (replay checks a recorded close against these); those in
    ``computed`` for the same period, position and prior close when it holds them. And
    whether they are those: the items the close itself computed."""
    prior = prior_close(cursor, programme, region, month)
    if computed is not None:
        items = computed.take((programme, region, month, position, prior))
        if items is not None:
            return items, True
    return payroll_items_after(cursor, programme, region, month, position, prior), False


def payroll_items_after(
    cursor: Reader,
    programme: str,
    region: str,
    month: Month,
    position: int,
    prior: PriorClose | None,
) -> list[PayrollItem]:
    """Every amount, arrear and recovery of the period, as known at ``position``, settling
    what changed since the ``prior`` close (None: the first close)."""
    # Two index ranges: the rows still known, and those superseded after the position.
    in_month = (
        f"programme = ? AND region = ? AND valid_from <= ? AND {valid_until()} > ? "
        "AND known_from <= ? AND amount_fen <> 0"
    )
    params = (programme, region, month.index, month.index, position)
    items = [
        PayrollItem(subject_id, month, AMOUNT, int(fen))
        for subject_id, fen in cursor.fetchall(
            f"SELECT subject_id, amount_fen FROM segments WHERE {in_month} AND known_to IS NULL "
            f"UNION ALL SELECT subject_id, amount_fen FROM segments WHERE {in_month} "
            f"AND known_to > ?",
            (*params, *params, position),
        )
    ]
    if prior is not None:
        items += _corrections(cursor, programme, region, month, position, prior)
        returned = returned_subjects(cursor, programme, region, position, prior.position)
        if returned:
            items = [item for item in items if item.subject_id not in returned]
            items += _items_after_returns(
                cursor, programme, region, month, position, prior, sorted(returned)
            )
    return items


def returned_subjects(
    cursor: Reader,
    programme: str,
    region: str,
    position: int,
    settled_at: int | None = None,
) -> set[str]:
    """The cases of the programme and region with a line the bank returned, as known at
    ``position``; with ``settled_at`` (the position of the schedule's last close), only
    those that close has not settled: a close computed after a payee change that followed
    the case's last return paid everything outstanding, after which the case's lines are
    again what every other case's are (its entitlement as known at the close)."""
    returns = (
        "SELECT r.subject_id FROM payment_returns r"
        " WHERE r.programme = ? AND r.region = ? AND r.known_from <= ?"
    )
    if settled_at is None:
        rows = cursor.fetchall(returns, (programme, region, position))
    else:
        # A payee change after the latest return is one after every return: a case is
        # unsettled when any of its returns has no payee change after it.
        rows = cursor.fetchall(
            f"{returns} AND NOT EXISTS (SELECT 1 FROM payees p WHERE p.subject_id = r.subject_id"
            " AND p.known_from > r.known_from AND p.known_from <= ?)",
            (programme, region, position, settled_at),
        )
    return {str(row[0]) for row in rows}


def period_items(
    programme: str, region: str, month: Month, position: int
) -> tuple[str, tuple[str | int, ...]]:
    """A query of a closed period's items, as rows (subject_id, kind, amount_fen), and its
    parameters: the own amounts derived from the segments known at ``position`` (the
    period's, where its lines were computed), and the items stored."""
    # SEGMENT_IN_PERIOD with the month and position given rather than joined from periods,
    # as payroll_items_after reads them: SQLite then takes two index ranges of the month's
    # segments, where a join scanned every segment known before the position.
    in_month = (
        f"s.programme = ? AND s.region = ? AND s.valid_from <= ? AND {valid_until('s.')} > ?"
        " AND s.known_from <= ? AND s.amount_fen <> 0"
    )
    not_held = (
        "NOT EXISTS (SELECT 1 FROM payroll_items h WHERE h.programme = s.programme"
        " AND h.region = s.region AND h.period = ? AND h.subject_id = s.subject_id"
        f" AND h.corrected_month = ? AND h.kind = '{HELD}')"
    )
    own = f"SELECT s.subject_id, '{AMOUNT}' AS kind, s.amount_fen FROM segments s WHERE {in_month}"
    sql = (
        f"{own} AND s.known_to IS NULL AND {not_held}"
        f" UNION ALL {own} AND s.known_to > ? AND {not_held}"
        " UNION ALL SELECT subject_id, kind, amount_fen FROM payroll_items"
        " WHERE programme = ? AND region = ? AND period = ?"
    )
    segments = (programme, region, month.index, month.index, position)
    held = (month.index, month.index)
    return sql, (
        *segments,
        *held,
        *segments,
        position,
        *held,
        programme,
        region,
        month.index,
    )


def own_amount(reader: Reader, programme: str, region: str, month: Month, subject_id: str) -> int:
    """A case's own amount on its line of a closed period (what the line paid, unless it
    held it: its items say so)."""
    rows = reader.fetchall(
        "SELECT s.amount_fen FROM periods p JOIN segments s ON s.subject_id = ?"
        f" AND {SEGMENT_IN_PERIOD}"
        " WHERE p.programme = ? AND p.region = ? AND p.month = ?",
        (subject_id, programme, region, month.index),
    )
    return sum(int(row[0]) for row in rows)


@dataclass
class SentAccount:
    """What a case's lines of the closed periods before a month sent, net of the bank's
    returns known at a position, and whether the case is held there."""

    entitled: dict[int, int]  # month index -> fen, as known at the position
    paid: dict[int, int]
    settled: dict[int, int]  # arrears sent minus recoveries listed
    held: bool

    def outstanding(self, month: int) -> int:
        return self.entitled.get(month, 0) - self.paid.get(month, 0) - self.settled.get(month, 0)


def sent_accounts(
    cursor: Reader,
    programme: str,
    region: str,
    before: Month,
    position: int,
    subjects: Sequence[str],
) -> dict[str, SentAccount]:
    """Each of ``subjects``' account of the periods closed before ``before``, as known at
    ``position`` (the views hold those periods' lines)."""
    accounts: dict[str, SentAccount] = {}
    # The closes are of consecutive months, each at a position no earlier than the one
    # before: the closes that knew a row are a run of them, found by bisection.
    closes = cursor.fetchall(
        "SELECT month, position FROM periods WHERE programme = ? AND region = ? AND month < ?"
        " ORDER BY month",
        (programme, region, before.index),
    )
    first_closed = int(closes[0][0]) if closes else before.index
    close_positions = [int(known_at) for _, known_at in closes]
    for start in range(0, len(subjects), CHUNK):
        chunk = list(subjects[start : start + CHUNK])
        marks = ", ".join("?" for _ in chunk)
        rows_by_subject: dict[str, list[Row]] = defaultdict(list)
        for subject_id in chunk:
            accounts[subject_id] = SentAccount({}, defaultdict(int), defaultdict(int), False)
        for subject_id, valid_from, valid_to, fen, known_from, known_to in cursor.fetchall(
            "SELECT subject_id, valid_from, valid_to, amount_fen, known_from, known_to"
            f" FROM segments WHERE subject_id IN ({marks}) AND valid_from <= ?",
            (*chunk, before.index),
        ):
            row = (valid_from, valid_to, fen, known_from, known_to)
            rows_by_subject[subject_id].append(row)
            if not _known_at(row, position):
                continue
            until = before.index + 1 if valid_to is None else min(valid_to, before.index + 1)
            for month in range(valid_from, until):
                accounts[subject_id].entitled[month] = int(fen)
        returns: dict[str, dict[int, int]] = defaultdict(dict)
        for subject_id, period, known_from in cursor.fetchall(
            "SELECT subject_id, period, known_from FROM payment_returns"
            f" WHERE programme = ? AND region = ? AND subject_id IN ({marks})"
            " AND known_from <= ?",
            (programme, region, *chunk, position),
        ):
            returns[subject_id][int(period)] = int(known_from)
        payees: dict[str, int] = {
            str(subject_id): int(known_from)
            for subject_id, known_from in cursor.fetchall(
                "SELECT subject_id, MAX(known_from) FROM payees"
                f" WHERE subject_id IN ({marks}) AND known_from <= ? GROUP BY subject_id",
                (*chunk, position),
            )
        }
        held_own: set[tuple[str, int]] = set()  # a line that held its month's own amount
        for subject_id, period, corrected, kind, fen in cursor.fetchall(
            "SELECT subject_id, period, corrected_month, kind, amount_fen FROM payroll_items"
            f" WHERE programme = ? AND region = ? AND subject_id IN ({marks}) AND period < ?",
            (programme, region, *chunk, before.index),
        ):
            account = accounts[subject_id]
            returned = int(period) in returns.get(subject_id, {})
            if kind == ARREARS and not returned:
                account.settled[int(corrected)] += int(fen)
            elif kind == RECOVERY:
                account.settled[int(corrected)] -= int(fen)
            elif kind == HELD and corrected == period:
                held_own.add((subject_id, int(period)))
        for subject_id in chunk:
            returned_periods = returns.get(subject_id, {})
            paid = accounts[subject_id].paid
            for valid_from, valid_to, fen, known_from, known_to in rows_by_subject[subject_id]:
                if not fen:
                    continue
                knew = _months_whose_close_knew(close_positions, first_closed, known_from, known_to)
                until = knew.stop if valid_to is None else min(valid_to, knew.stop)
                for month in range(max(valid_from, knew.start), until):
                    if month not in returned_periods and (subject_id, month) not in held_own:
                        paid[month] += fen
        for subject_id, returned_at in returns.items():
            last_return = max(returned_at.values())
            accounts[subject_id].held = last_return > payees.get(subject_id, 0)
    return accounts


def _months_whose_close_knew(
    close_positions: Sequence[int], first_closed: int, known_from: int, known_to: int | None
) -> range:
    """The months whose close's position lies in a row's record time, of closes of
    consecutive months from ``first_closed`` at ``close_positions``, which never fall."""
    knew_to = len(close_positions) if known_to is None else bisect_left(close_positions, known_to)
    return range(first_closed + bisect_left(close_positions, known_from), first_closed + knew_to)


def _items_after_returns(
    cursor: Reader,
    programme: str,
    region: str,
    month: Month,
    position: int,
    prior: PriorClose,
    subjects: Sequence[str],
) -> list[PayrollItem]:
    items: list[PayrollItem] = []
    accounts = sent_accounts(cursor, programme, region, month, position, subjects)
    for subject_id in subjects:
        account = accounts[subject_id]
        own = account.entitled.get(month.index, 0)
        if own:
            items.append(PayrollItem(subject_id, month, HELD if account.held else AMOUNT, own))
        for corrected in range(prior.first_month.index, month.index):
            outstanding = account.outstanding(corrected)
            if outstanding > 0:
                kind = HELD if account.held else ARREARS
                items.append(PayrollItem(subject_id, Month(corrected), kind, outstanding))
            elif outstanding < 0 and not account.held:
                items.append(PayrollItem(subject_id, Month(corrected), RECOVERY, -outstanding))
    return items


def _corrections(
    cursor: Reader,
    programme: str,
    region: str,
    month: Month,
    position: int,
    prior: PriorClose,
) -> list[PayrollItem]:
    """Arrears and recoveries since the ``prior`` close, from the rows that changed between
    the two positions alone: those that became known after the prior close and are known at
    ``position``, and those known at the prior close that stopped being known by
    ``position``. A subject's rows known at one position never overlap in valid time, so a
    month either lies in a changed row at one of the two positions or in a row known at
    both, which settles nothing; a month's difference is that of its changed rows."""
    before = prior.position
    columns = "subject_id, valid_from, valid_to, amount_fen, known_from, known_to"
    closed_months = f"programme = ? AND region = ? AND valid_from < ? AND {valid_until()} > ?"
    in_closed_months = (programme, region, month.index, prior.first_month.index)
    rows_by_subject: dict[str, list[Row]] = defaultdict(list)
    for subject_id, valid_from, valid_to, fen, known_from, known_to in cursor.fetchall(
        f"SELECT {columns} FROM segments WHERE {closed_months}"
        " AND known_from > ? AND known_from <= ? AND (known_to IS NULL OR known_to > ?)"
        f" UNION ALL SELECT {columns} FROM segments WHERE {closed_months}"
        " AND known_to > ? AND known_to <= ? AND known_from <= ?",
        (
            *in_closed_months,
            before,
            position,
            position,
            *in_closed_months,
            before,
            position,
            before,
        ),
    ):
        rows_by_subject[subject_id].append((valid_from, valid_to, fen, known_from, known_to))
    items: list[PayrollItem] = []
    for subject_id in sorted(rows_by_subject):
        items += _differences(
            subject_id, rows_by_subject[subject_id], prior.first_month, month, before, position
        )
    return items


Row = tuple[int, int | None, int, int, int | None]  # valid from, to, fen, known from, to


def _known_at(row: Row, position: int) -> bool:
    return row[3] <= position and (row[4] is None or row[4] > position)


def _differences(
    subject_id: str,
    rows: Sequence[Row],
    first: Month,
    month: Month,
    before: int,
    position: int,
) -> list[PayrollItem]:
    """Arrears and recoveries for the closed months ``first`` up to ``month``: only where
    a row became known, or stopped being known, between the two positions."""
    now = [row for row in rows if _known_at(row, position)]
    then = [row for row in rows if _known_at(row, before)]
    months: set[int] = set()
    for valid_from, valid_to, *_ in set(now).symmetric_difference(then):
        end = month.index if valid_to is None else min(valid_to, month.index)
        months.update(range(max(valid_from, first.index), end))
    items = []
    for corrected in sorted(months):
        difference = _amount_in(now, corrected) - _amount_in(then, corrected)
        if difference:
            kind = ARREARS if difference > 0 else RECOVERY
            items.append(PayrollItem(subject_id, Month(corrected), kind, abs(difference)))
    return items


def _amount_in(rows: Sequence[Row], month: int) -> int:
    for valid_from, valid_to, fen, _, _ in rows:
        if valid_from <= month and (valid_to is None or valid_to > month):
            return fen
    return 0


_SLOT = {AMOUNT: 0, ARREARS: 1, RECOVERY: 2, HELD: 3}  # a line's fields, in order


def lines_of(items: Sequence[PayrollItem]) -> list[PayrollLine]:
    """One line per case, in case order."""
    # Most cases have their own amount and nothing else: it is kept apart from the other
    # items, so that their lines are made without a list of fields each.
    own: dict[str, int] = {}
    others: dict[str, list[int]] = {}
    for subject_id, _, kind, fen in items:
        if kind == AMOUNT and subject_id not in own:
            own[subject_id] = fen
            continue
        fields = others.get(subject_id)
        if fields is None:
            fields = others[subject_id] = [0, 0, 0, 0]
        fields[_SLOT[kind]] += fen
    yuan = _fen_to_yuan
    zero = yuan(0)
    lines = []
    for subject_id in sorted(own.keys() | others.keys()):
        amount = own.get(subject_id, 0)
        fields = others.get(subject_id)
        if fields is None:
            lines.append(PayrollLine(subject_id, yuan(amount), zero, zero, zero))
        else:
            amount += fields[0]
            arrears, recoveries, held = (yuan(fen) for fen in fields[1:])
            lines.append(PayrollLine(subject_id, yuan(amount), arrears, recoveries, held))
    return lines

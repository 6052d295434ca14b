"""Closing a payroll period: what the ledger records, the digest's format, and the lines and
closes it refuses. The lines here are written by hand, as a finance officer would check them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.cases.programmes import Programme
from domain.errors import CaseStateError, InvalidInputError
from domain.months import Month
from domain.payroll_periods import PayrollLine, PayrollPeriods, PayrollSummary, check_lines
from tests.support import HESHAN, QIBIN, at, memory_ledger

D = Decimal
FIRST = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
SECOND = "7f6e5d4c3b2a19081726354453627180"
LINES = [
    PayrollLine(FIRST, D("1200.00"), D("150.00"), D("0.00")),
    PayrollLine(SECOND, D("0"), D("0.00"), D("2400.00")),
]
# The test vector: SHA-256 of one "<case>,<amount>,<arrears>,<recoveries>\n" per line, in
# case order, amounts with two places. Closed periods in existing ledgers carry digests in
# this format; changing it would make them fail to verify.
LINES_TEXT = (
    "0a1b2c3d4e5f60718293a4b5c6d7e8f9,1200.00,150.00,0.00\n"
    "7f6e5d4c3b2a19081726354453627180,0.00,0.00,2400.00\n"
)
LINES_DIGEST = "dddb672ea78a4365ddbf1ee01e2033789fe565081fcc44e66b5819aa636a29d3"
EMPTY_DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture
def ledger() -> Ledger:
    """A memory ledger at position 5 (two schedules opened, three standards set), nothing
    closed."""
    ledger = memory_ledger()
    for region, effective, standard in ((QIBIN, "2020-01", "600"), (HESHAN, "2020-01", "600")):
        ledger.set_standard(
            "dibao-urban", region, effective, {"standard": standard}, actor="f", reason="n"
        )
    ledger.set_standard("dibao-urban", QIBIN, "2020-02", {"standard": "610"}, actor="f", reason="n")
    assert ledger.position == 5
    return ledger


def recorded_closes(ledger: Ledger, region: str = QIBIN) -> list[PayrollPeriods.PeriodClosed]:
    periods_id = PayrollPeriods.id_for(Programme.DIBAO_URBAN, region)
    return [e for e in ledger.events.get(periods_id) if isinstance(e, PayrollPeriods.PeriodClosed)]


def test_the_digest_of_a_period_follows_the_recorded_format() -> None:
    assert "".join(line.encoded() for line in LINES) == LINES_TEXT
    summary = PayrollSummary.of(LINES)
    assert summary == PayrollSummary(2, D("1200.00"), D("150.00"), D("2400.00"), LINES_DIGEST)
    nobody = PayrollSummary.of([])
    assert nobody == PayrollSummary(0, D("0.00"), D("0.00"), D("0.00"), EMPTY_DIGEST)
    # A month with nobody to pay records its totals in yuan and fen all the same.
    assert [
        str(t) for t in (nobody.month_total, nobody.arrears_total, nobody.recoveries_total)
    ] == [
        "0.00",
        "0.00",
        "0.00",
    ]


def test_a_line_pays_the_month_and_its_arrears_and_collects_recoveries_apart() -> None:
    assert [line.to_pay for line in LINES] == [D("1350.00"), D("0.00")]


def test_a_close_records_its_position_totals_digest_and_who_closed_it(ledger: Ledger) -> None:
    ledger.close_period("dibao-urban", QIBIN, "2020-03", 2, LINES, previous=None, actor="finance-1")
    [closed] = recorded_closes(ledger)
    assert (closed.programme, closed.region, str(closed.month), closed.position) == (
        "dibao-urban",
        QIBIN,
        "2020-03",
        2,
    )
    assert (closed.line_count, closed.month_total, closed.arrears_total) == (
        2,
        D("1200.00"),
        D("150.00"),
    )
    assert (closed.recoveries_total, closed.digest, closed.actor) == (
        D("2400.00"),
        LINES_DIGEST,
        "finance-1",
    )
    assert recorded_closes(ledger, HESHAN) == []


def test_periods_close_in_month_order_each_once(ledger: Ledger) -> None:
    ledger.close_period("dibao-urban", QIBIN, "2020-03", 1, [], previous=None, actor="f")
    position = ledger.position
    for month in ("2020-03", "2020-05", "2020-02"):
        with pytest.raises(CaseStateError) as refusal:
            ledger.close_period(
                "dibao-urban", QIBIN, month, 1, [], previous=Month.parse("2020-03"), actor="f"
            )
        expected = (
            f"period {month} of dibao-urban {QIBIN} is already closed; the next period to "
            "close is 2020-04"
            if month <= "2020-03"
            else f"dibao-urban in {QIBIN} closed 2020-03 last; the next period to close is "
            f"2020-04, not {month}"
        )
        assert refusal.value.message == expected
    assert ledger.position == position
    ledger.close_period(
        "dibao-urban", QIBIN, "2020-04", 1, [], previous=Month.parse("2020-03"), actor="f"
    )
    # Another region closes on its own schedule.
    ledger.close_period("dibao-urban", HESHAN, "2020-01", 0, [], previous=None, actor="f")
    assert [str(c.month) for c in recorded_closes(ledger)] == ["2020-03", "2020-04"]


def test_a_close_naming_another_previous_month_than_the_last_closed_is_refused(
    ledger: Ledger,
) -> None:
    def refused(month: str, previous: Month | None) -> str:
        with pytest.raises(CaseStateError) as refusal:
            ledger.close_period("dibao-urban", QIBIN, month, 5, [], previous=previous, actor="f")
        return refusal.value.message

    assert refused("2020-03", Month.parse("2020-02")) == (
        f"the lines were computed after the close of 2020-02, but dibao-urban in {QIBIN} "
        "closed no period; they would settle arrears twice or not at all, compute them again"
    )
    ledger.close_period("dibao-urban", QIBIN, "2020-03", 5, [], previous=None, actor="f")
    position = ledger.position
    assert refused("2020-04", None) == (
        f"the lines were computed after no close, but dibao-urban in {QIBIN} closed 2020-03 "
        "last; they would settle arrears twice or not at all, compute them again"
    )
    assert refused("2020-04", Month.parse("2020-02")) == (
        f"the lines were computed after the close of 2020-02, but dibao-urban in {QIBIN} "
        "closed 2020-03 last; they would settle arrears twice or not at all, compute them again"
    )
    assert ledger.position == position
    assert [str(c.month) for c in recorded_closes(ledger)] == ["2020-03"]


def test_lines_computed_before_the_previous_close_are_refused(ledger: Ledger) -> None:
    ledger.close_period("dibao-urban", QIBIN, "2020-03", 4, [], previous=None, actor="f")
    with pytest.raises(CaseStateError) as refusal:
        ledger.close_period(
            "dibao-urban", QIBIN, "2020-04", 3, [], previous=Month.parse("2020-03"), actor="f"
        )
    assert refusal.value.message == (
        "the lines were computed at position 3, before the previous close at 4"
    )
    # Nothing recorded since the previous close: the same position still holds.
    ledger.close_period(
        "dibao-urban", QIBIN, "2020-04", 4, [], previous=Month.parse("2020-03"), actor="f"
    )


@pytest.mark.parametrize("position", [-1, 6])
def test_a_position_the_ledger_has_not_reached_is_refused(ledger: Ledger, position: int) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        ledger.close_period("dibao-urban", QIBIN, "2020-03", position, [], previous=None, actor="f")
    assert refusal.value.message == (
        f"position {position} is not a ledger position (the ledger is at 5)"
    )
    assert refusal.value.field == "position"
    ledger.close_period("dibao-urban", QIBIN, "2020-03", 5, [], previous=None, actor="f")


@pytest.mark.parametrize(
    "lines",
    [
        [LINES[1], LINES[0]],
        [LINES[0], LINES[0]],
        [LINES[0], LINES[1], PayrollLine(SECOND, D("1.00"), D("0.00"), D("0.00"))],
    ],
    ids=["out of order", "twice", "twice at the end"],
)
def test_lines_out_of_case_order_or_twice_for_a_case_are_refused(
    ledger: Ledger, lines: list[PayrollLine]
) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        ledger.close_period("dibao-urban", QIBIN, "2020-03", 5, lines, previous=None, actor="f")
    assert refusal.value.message == "payroll lines are given once per case, in case order"
    assert refusal.value.field == "lines"
    assert ledger.position == 5


@pytest.mark.parametrize(
    ("line", "message", "field"),
    [
        (
            PayrollLine(FIRST, D("-1.00"), D("0.00"), D("0.00")),
            "lines.amount cannot be negative",
            "lines.amount",
        ),
        (
            PayrollLine(FIRST, D("1.00"), D("0.005"), D("0.00")),
            "lines.arrears has more than two decimal places (fen)",
            "lines.arrears",
        ),
        (
            PayrollLine(FIRST, D("1.00"), D("0.00"), 3.5),  # type: ignore[arg-type]
            "lines.recoveries must be a decimal string, not a float",
            "lines.recoveries",
        ),
    ],
)
def test_a_malformed_line_is_refused_naming_the_amount(
    line: PayrollLine, message: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as refusal:
        check_lines([PayrollLine("0", D("0.00"), D("0.00"), D("0.00")), line])
    assert (refusal.value.message, refusal.value.field) == (message, field)


def test_well_formed_lines_in_case_order_are_accepted() -> None:
    check_lines(LINES)
    check_lines([])


def test_an_imported_close_keeps_its_original_time() -> None:
    ledger = memory_ledger()
    uow = SaveAt(ledger, at("2020-03-31 18:00"))
    ledger.close_period(
        "dibao-urban", QIBIN, "2020-03", 0, [], previous=None, actor="finance-1", uow=uow
    )
    periods_id = PayrollPeriods.id_for(Programme.DIBAO_URBAN, QIBIN)
    recorded = [e for e in ledger.events.get(periods_id) if isinstance(e, PayrollPeriods.Event)]
    assert [e.timestamp for e in recorded] == [at("2020-03-31 18:00")] * 2

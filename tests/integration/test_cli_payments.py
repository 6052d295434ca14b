"""The payment commands: a period's payment file, the bank's returns imported from a file
(twice: the second time changes nothing), a new payee, and the reissue at the next close."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner, Result

from api.cli import main
from domain.cases.payee import luhn_completed
from tests.support import QIBIN, grant_paid_household, ledger_at, person

FIRST_CARD, NEW_CARD = luhn_completed("622202020011234567"), luhn_completed("621700001100000000")


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def case_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An urban dibao household of 3 in Qibin paid 1200.00 a month into a card from 2020-02;
    the payroll starts with March: March and April closed."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    household = [person(date(1980, 1, 1), n) for n in range(1, 4)]
    case_id = grant_paid_household(ledger, "2020-02", household, "200", FIRST_CARD)
    ledger.close()
    for month in ("2020-03", "2020-04"):
        run("close-period", "dibao-urban", QIBIN, month, "--actor", "finance-1")
    return case_id.hex


def test_a_returned_line_is_held_then_reissued_after_a_new_payee(
    case_id: str, tmp_path: Path
) -> None:
    april = tmp_path / "april.csv"
    written = run(
        "payment-file", "dibao-urban", QIBIN, "2020-04", "--format", "csv", "--output", str(april)
    )
    assert "1 transfers, control sum 1200.00" in written.output
    with april.open(encoding="utf-8") as file:
        (transfer, control) = list(csv.DictReader(file))
    assert (transfer["account"], transfer["to_pay"]) == (FIRST_CARD, "1200.00")
    assert (control["count"], control["control_sum"]) == ("1", "1200.00")

    returns = tmp_path / "returns.csv"
    returns.write_text(
        f"end_to_end_id,bank_reference,reason\n{transfer['end_to_end_id']},RT1,AC04\n",
        encoding="utf-8",
    )
    first = run("import-returns", str(returns), "--actor", "finance-1")
    assert "1 returns recorded, 0 recorded before" in first.output
    again = run("import-returns", str(returns), "--actor", "finance-1")
    assert "0 returns recorded, 1 recorded before" in again.output

    held = run("close-period", "dibao-urban", QIBIN, "2020-05", "--actor", "finance-1")
    assert "0.00 for the month, 0.00 arrears" in held.output
    assert line_of(tmp_path, "2020-05")["held"] == "2400.00"  # May's own and April's
    run("change-payee", case_id, "--account", NEW_CARD, "--actor", "cw", "--reason", "new card")
    paid = run("close-period", "dibao-urban", QIBIN, "2020-06", "--actor", "finance-1")
    # June's own 1200.00, and April's and May's 1200.00 each as arrears.
    assert "1200.00 for the month, 2400.00 arrears" in paid.output
    june = tmp_path / "june.xml"
    run("payment-file", "dibao-urban", QIBIN, "2020-06", "--output", str(june))
    assert NEW_CARD in june.read_text(encoding="utf-8")
    table = run("reconcile", "--year", "2020")
    (row,) = [line.split() for line in table.stdout.splitlines() if "dibao-urban" in line]
    # entitled, paid, arrears, recoveries, outstanding; returned (April's line), held (May's
    # line held May's own 1200.00 and April's), reissued (April and May as June's arrears)
    assert row[2:] == [
        "4800.00",
        "2400.00",
        "2400.00",
        "0.00",
        "0.00",
        "1200.00",
        "2400.00",
        "2400.00",
    ]
    verified = run("verify")
    assert "4 of 4 closed months balance" in verified.output

    # June's line comes back too: the arrears it carried were never sent either.
    return_line_then_change_payee(tmp_path, case_id, "2020-06", luhn_completed("62170000220000000"))
    july = run("close-period", "dibao-urban", QIBIN, "2020-07", "--actor", "finance-1")
    assert "1200.00 for the month, 3600.00 arrears" in july.output


def line_of(tmp_path: Path, month: str) -> dict[str, str]:
    """The one line of the period ``month``, as the payroll command writes it."""
    lines = tmp_path / f"{month}.csv"
    run("payroll", "dibao-urban", QIBIN, month, "--format", "csv", "--output", str(lines))
    with lines.open(encoding="utf-8") as file:
        (line,) = list(csv.DictReader(file))
    return line


def return_line(tmp_path: Path, month: str = "2020-04") -> None:
    """The bank returns the line of ``month``; every closed month still balances."""
    sent = tmp_path / f"sent-{month}.csv"
    run("payment-file", "dibao-urban", QIBIN, month, "--format", "csv", "--output", str(sent))
    with sent.open(encoding="utf-8") as file:
        (transfer, _) = list(csv.DictReader(file))
    returns = tmp_path / f"returns-{month}.csv"
    returns.write_text(
        f"end_to_end_id,bank_reference,reason\n{transfer['end_to_end_id']},RT{month},AC04\n",
        encoding="utf-8",
    )
    run("import-returns", str(returns), "--actor", "finance-1")
    assert "closed months balance" in run("verify").output


def return_line_then_change_payee(
    tmp_path: Path, case_id: str, month: str = "2020-04", card: str = NEW_CARD
) -> None:
    """The bank returns the line of ``month``; the case is then paid into ``card``."""
    return_line(tmp_path, month)
    run("change-payee", case_id, "--account", card, "--actor", "cw", "--reason", "new card")


def test_after_a_return_and_a_new_payee_a_cut_reaching_back_lists_a_recovery(
    case_id: str, tmp_path: Path
) -> None:
    return_line_then_change_payee(tmp_path, case_id)
    ledger = ledger_at(f"sqlite:///{tmp_path / 'ledger.db'}")
    # Income from 200.00 to 300.00 a person from March: 900.00 a month instead of 1200.00.
    ledger.reassess(UUID(case_id), "2020-03", {"income": "300"}, actor="cw", reason="job")
    ledger.close()

    may = run("close-period", "dibao-urban", QIBIN, "2020-05", "--actor", "finance-1")
    assert "900.00 for the month, 900.00 arrears" in may.output
    line = line_of(tmp_path, "2020-05")
    # May's own 900.00; April's line came back, so April's 900.00 is paid as arrears;
    # March's 1200.00 reached the household and 300.00 of it is to be recovered. February
    # was never on a payroll: it is neither paid nor recovered.
    assert {key: line[key] for key in ("amount", "arrears", "recoveries", "held")} == {
        "amount": "900.00",
        "arrears": "900.00",
        "recoveries": "300.00",
        "held": "0.00",
    }
    verified = run("verify")
    assert "3 of 3 closed months balance" in verified.output

    # May's line comes back: its own amount and April's arrears were not sent, and the
    # recovery it listed for March still stands.
    return_line_then_change_payee(tmp_path, case_id, "2020-05", luhn_completed("62170000220000000"))
    june = run("close-period", "dibao-urban", QIBIN, "2020-06", "--actor", "finance-1")
    assert "900.00 for the month, 1800.00 arrears, 0.00 to recover" in june.output


def test_a_case_that_left_from_its_returned_month_gets_no_line(
    case_id: str, tmp_path: Path
) -> None:
    return_line_then_change_payee(tmp_path, case_id)
    ledger = ledger_at(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.exit(UUID(case_id), "2020-04", actor="cw", reason="moved away in March")
    ledger.close()

    # March was paid what it was owed; April's line came back and April is owed nothing
    # now, nor is May: no line pays, settles or recovers anything.
    may = run("close-period", "dibao-urban", QIBIN, "2020-05", "--actor", "finance-1")
    assert "0 lines, 0.00 for the month, 0.00 arrears, 0.00 to recover" in may.output


def test_after_a_return_a_single_fen_outstanding_is_paid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    alone = [person(date(1980, 1, 1), 1)]
    case_id = grant_paid_household(ledger, "2020-03", alone, "200", FIRST_CARD).hex
    ledger.close()
    for month in ("2020-03", "2020-04"):
        run("close-period", "dibao-urban", QIBIN, month, "--actor", "finance-1")
    return_line_then_change_payee(tmp_path, case_id)
    ledger = ledger_at(f"sqlite:///{path}")
    ledger.reassess(UUID(case_id), "2020-03", {"income": "199.99"}, actor="cw", reason="r")
    ledger.close()

    # 400.01 a month from March: April's as arrears, and March's one fen more.
    may = run("close-period", "dibao-urban", QIBIN, "2020-05", "--actor", "finance-1")
    assert "400.01 for the month, 400.02 arrears, 0.00 to recover" in may.output


def test_a_held_line_that_held_only_its_own_amount_is_paid_after_a_new_payee(
    case_id: str, tmp_path: Path
) -> None:
    return_line(tmp_path)
    # April is suspended after all: nothing was owed for it, and nothing is held for it.
    ledger = ledger_at(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.suspend(UUID(case_id), "2020-04", actor="cw", reason="away")
    ledger.resume(UUID(case_id), "2020-05", actor="cw", reason="back")
    ledger.close()
    run("close-period", "dibao-urban", QIBIN, "2020-05", "--actor", "finance-1")
    assert line_of(tmp_path, "2020-05")["held"] == "1200.00"
    run("change-payee", case_id, "--account", NEW_CARD, "--actor", "cw", "--reason", "new card")
    june = run("close-period", "dibao-urban", QIBIN, "2020-06", "--actor", "finance-1")
    assert "1200.00 for the month, 1200.00 arrears, 0.00 to recover" in june.output


def test_arrears_sent_over_two_closes_both_count_after_a_return(
    case_id: str, tmp_path: Path
) -> None:
    for month, standard in (("2020-05", "620"), ("2020-06", "650")):
        ledger = ledger_at(f"sqlite:///{tmp_path / 'ledger.db'}")
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-03", {"standard": standard}, actor="f", reason="raise"
        )
        ledger.close()
        run("close-period", "dibao-urban", QIBIN, month, "--actor", "finance-1")
    # April's line comes back after both raises reached April as arrears (60.00, then 90.00).
    return_line_then_change_payee(tmp_path, case_id, "2020-04")
    july = run("close-period", "dibao-urban", QIBIN, "2020-07", "--actor", "finance-1")
    # April's 1350.00, less the 150.00 of arrears already sent for it.
    assert "1350.00 for the month, 1200.00 arrears, 0.00 to recover" in july.output


def test_a_month_suspended_after_its_close_does_not_hide_the_months_after_it(
    case_id: str, tmp_path: Path
) -> None:
    ledger = ledger_at(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.suspend(UUID(case_id), "2020-03", actor="cw", reason="away")
    ledger.resume(UUID(case_id), "2020-04", actor="cw", reason="back")
    ledger.close()
    may = run("close-period", "dibao-urban", QIBIN, "2020-05", "--actor", "finance-1")
    assert "1200.00 for the month, 0.00 arrears, 1200.00 to recover" in may.output  # March
    run("close-period", "dibao-urban", QIBIN, "2020-06", "--actor", "finance-1")
    return_line_then_change_payee(tmp_path, case_id, "2020-06")
    # June's line came back; May's was paid, and March's 1200.00 was listed to recover.
    july = run("close-period", "dibao-urban", QIBIN, "2020-07", "--actor", "finance-1")
    assert "1200.00 for the month, 1200.00 arrears, 0.00 to recover" in july.output

"""The operator commands: verify names a tampered position, rebuild names a difference."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import date
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.keys import read_keys
from domain.application.recording import SaveAt
from projections.storage.opening import views_path
from tests.integration.test_read_side import record_a_small_history
from tests.support import (
    QIBIN,
    at,
    ledger_at,
    person,
    set_reference_standards,
)


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    record_a_small_history(ledger)
    ledger.close()
    return path


def table_row(stdout: str, first: str) -> list[str]:
    """The cells of the table row that starts with ``first``."""
    (row,) = [line.split() for line in stdout.splitlines() if line.split()[:1] == [first]]
    return row


def test_verify_prints_the_head_and_accepts_it_later(ledger_file: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["verify"])
    assert first.exit_code == 0, first.output
    head = first.stdout.split()[1]
    again = runner.invoke(main, ["verify", "--expected-head", head])
    assert again.exit_code == 0, again.output
    assert "contains the expected head" in again.output


def test_verify_fails_naming_the_altered_position(ledger_file: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["project"]).exit_code == 0
    with sqlite3.connect(ledger_file) as connection:
        connection.execute(
            "UPDATE stored_events SET state = CAST(REPLACE(CAST(state AS TEXT), '650', '950') "
            "AS BLOB) WHERE rowid = (SELECT rowid FROM stored_events "
            "WHERE CAST(state AS TEXT) LIKE '%\"650%' LIMIT 1)"
        )
        (altered,) = connection.execute(
            "SELECT rowid FROM stored_events WHERE CAST(state AS TEXT) LIKE '%\"950%'"
        ).fetchone()
    result = runner.invoke(main, ["verify"])
    assert result.exit_code == 1
    assert (
        f"the event at position {altered}: its signature does not match key 'development'"
        in result.output
    )


def test_rebuild_replace_no_longer_launders_an_altered_event(ledger_file: Path) -> None:
    runner = CliRunner()
    with sqlite3.connect(ledger_file) as connection:
        (altered,) = connection.execute(
            "SELECT rowid FROM stored_events WHERE topic LIKE '%Case.Granted' LIMIT 1"
        ).fetchone()
        connection.execute(
            'UPDATE stored_events SET state = CAST(REPLACE(CAST(state AS TEXT), \'"actor":"\','
            ' \'"actor":"x\') AS BLOB) WHERE rowid = ?',
            (altered,),
        )
    replaced = runner.invoke(main, ["rebuild", "--replace"])
    assert replaced.exit_code == 1
    assert f"at position {altered} does not verify" in replaced.output
    assert "Traceback" not in replaced.output
    verified = runner.invoke(main, ["verify"])
    assert verified.exit_code == 1
    assert f"first position that differs: {altered}" in verified.output


def test_checkpoints_taken_and_exported_prove_the_history_to_an_auditor(
    ledger_file: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    taken = runner.invoke(main, ["checkpoints", "take"])
    assert taken.exit_code == 0, taken.output
    checkpoint = json.loads(taken.output)
    exported = tmp_path / "checkpoints.jsonl"
    result = runner.invoke(main, ["checkpoints", "export", str(exported)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in exported.read_text().splitlines()] == [checkpoint]
    verified = runner.invoke(main, ["verify", "--checkpoints", str(exported)])
    assert verified.exit_code == 0, verified.output
    assert "1 signed checkpoints checked" in verified.output

    # The last event and the stored checkpoints deleted: only the exported file tells.
    with sqlite3.connect(ledger_file) as connection:
        connection.execute("DELETE FROM stored_events WHERE rowid = ?", (checkpoint["position"],))
        connection.execute("DELETE FROM ledger_checkpoints")
    with sqlite3.connect(views_path(str(ledger_file))) as connection:
        connection.execute("DELETE FROM audit_chain WHERE position >= ?", (checkpoint["position"],))
        connection.execute("UPDATE tracking SET position = ?", (checkpoint["position"] - 1,))
    assert runner.invoke(main, ["verify"]).exit_code == 0
    caught = runner.invoke(main, ["verify", "--checkpoints", str(exported)])
    assert caught.exit_code == 1
    assert "events were removed from the end" in caught.output
    assert f"first position that differs: {checkpoint['position']}" in caught.output


def test_verify_refuses_a_checkpoints_file_it_cannot_read(
    ledger_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "checkpoints.jsonl"
    bad.write_text('{"version": 1, "position": 3}\n')
    result = CliRunner().invoke(main, ["verify", "--checkpoints", str(bad)])
    assert result.exit_code == 2
    assert "line 1: a checkpoint needs 'count'" in result.output


def test_rebuild_passes_then_fails_when_a_view_row_was_changed(ledger_file: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["rebuild"])
    assert ok.exit_code == 0, ok.output
    assert "equal the live views" in ok.output
    with sqlite3.connect(views_path(str(ledger_file))) as connection:
        connection.execute("UPDATE segments SET amount_fen = amount_fen - 1 WHERE amount_fen > 0")
    failed = runner.invoke(main, ["rebuild"])
    assert failed.exit_code == 1
    assert "segments: live" in failed.output
    replaced = runner.invoke(main, ["rebuild", "--replace"])
    assert replaced.exit_code == 0, replaced.output


def test_a_position_the_ledger_has_not_reached_is_refused_naming_the_option(
    ledger_file: Path,
) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["reconcile", "--known-at-position", "999999"])
    assert result.exit_code == 2
    assert "--known-at-position" in result.output
    assert "the ledger has reached position" in result.output
    zoneless = runner.invoke(main, ["reconcile", "--known-at", "2020-08-01T09:00:00"])
    assert zoneless.exit_code == 2
    assert "a timestamp needs its time zone" in zoneless.output


@pytest.mark.parametrize("known_at", ["9999-12-31", "0001-01-01T00:00:00+14:00"])
def test_a_known_at_out_of_the_calendars_range_is_a_usage_error_naming_the_option(
    ledger_file: Path, known_at: str
) -> None:
    result = CliRunner().invoke(main, ["totals", "--as-of", "2020-07", "--known-at", known_at])
    assert result.exit_code == 2, result.output
    assert "--known-at" in result.output
    assert "out of range" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("head", ["1200", "49418:abc", "foo", "-3:" + "0" * 64])
def test_verify_refuses_an_expected_head_it_cannot_have_printed(
    ledger_file: Path, head: str
) -> None:
    result = CliRunner().invoke(main, ["verify", "--expected-head", head])
    assert result.exit_code == 2
    assert "POSITION:HASH" in result.output
    assert "Traceback" not in result.output


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for command in main.list_commands(click.Context(main)):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output


@pytest.fixture
def reference_case_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Reference case 1 recorded live, its periods closed through the command line."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    ledger.set_standard("dibao-urban", QIBIN, "2020-01", {"standard": "600"}, actor="f", reason="n")
    household = [
        person(date(1980, 1, 1), 1),
        person(date(1982, 2, 2), 2),
        person(date(2010, 3, 3), 3),
    ]
    ledger.grant("dibao-urban", QIBIN, "2020-03", household, income="200", actor="cw", reason="x")
    runner = CliRunner()
    for month in ("2020-03", "2020-04", "2020-05", "2020-06", "2020-07"):
        closed = runner.invoke(
            main, ["close-period", "dibao-urban", QIBIN, month, "--actor", "finance-1"]
        )
        assert closed.exit_code == 0, closed.output
    ledger.set_standard(
        "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="raise"
    )
    ledger.close()
    closed = runner.invoke(
        main, ["close-period", "dibao-urban", QIBIN, "2020-08", "--actor", "finance-1"]
    )
    assert closed.exit_code == 0, closed.output
    assert "1350.00 for the month, 150.00 arrears" in closed.output
    return path


def test_payroll_writes_the_lines_of_a_closed_period_as_csv(
    reference_case_1: Path, tmp_path: Path
) -> None:
    target = tmp_path / "august.csv"
    result = CliRunner().invoke(
        main,
        ["payroll", "dibao-urban", QIBIN, "2020-08", "--format", "csv", "--output", str(target)],
    )
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(r["amount"], r["arrears"], r["recoveries"], r["total_to_pay"]) for r in rows] == [
        ("1350.00", "150.00", "0.00", "1500.00")
    ]
    assert len(rows[0]["person_reference"]) == 64


def test_reconcile_prints_the_year_and_verify_checks_balance_and_digests(
    reference_case_1: Path,
) -> None:
    runner = CliRunner()
    table = runner.invoke(main, ["reconcile", "--year", "2020"])
    assert table.exit_code == 0, table.output
    row = table_row(table.stdout, "dibao-urban")
    # March to August: entitled 4 x 1200 + 2 x 1350, paid 4 x 1200 + 1200 + 1350, arrears 150.
    # No bank returned anything: nothing returned, held or reissued.
    assert row == [
        "dibao-urban",
        "2020",
        "7500.00",
        "7350.00",
        "150.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
    ]
    verified = runner.invoke(main, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert (
        "6 of 6 closed periods match their digest; 6 of 6 closed months balance" in verified.output
    )


def test_verify_fails_when_a_kept_payroll_line_was_changed(reference_case_1: Path) -> None:
    with sqlite3.connect(views_path(str(reference_case_1))) as connection:
        connection.execute(
            "UPDATE payroll_items SET amount_fen = amount_fen + 1 WHERE kind = 'arrears'"
        )
    result = CliRunner().invoke(main, ["verify"])
    assert result.exit_code == 1
    assert (
        "dibao-urban 410611 2020-07: entitled 1350.00 != paid 1200.00 + settled 150.01"
        in result.output
    )


def test_totals_show_paid_settled_and_outstanding_for_a_closed_month(
    reference_case_1: Path,
) -> None:
    result = CliRunner().invoke(main, ["totals", "--as-of", "2020-07"])
    assert result.exit_code == 0, result.output
    assert table_row(result.stdout, "dibao-urban") == [
        "dibao-urban",
        QIBIN,
        "Qibin",
        "District",
        "1",
        "1350.00",
        "1200.00",
        "150.00",
        "0.00",
    ]


def test_an_auditor_verifies_with_the_public_keys_alone(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    printed = runner.invoke(main, ["verify-keys"])
    assert printed.exit_code == 0, printed.output
    keys = json.loads(printed.output)
    assert list(keys) == ["development"]
    monkeypatch.setenv("LEDGER_ENVIRONMENT", "production")
    installed = read_keys(ledger_file.parent / "ledger.keys")  # the keys it was written with
    for name, value in {
        "LEDGER_VERIFY_KEYS": printed.output.strip(),
        "LEDGER_PERSONAL_DATA_KEY": installed["LEDGER_PERSONAL_DATA_KEY"],
        "LEDGER_PERSON_REF_KEY": installed["LEDGER_PERSON_REF_KEY"],
        "LEDGER_JWT_SECRET": "an auditor's",
    }.items():
        monkeypatch.setenv(name, value)
    verified = runner.invoke(main, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert "signed (keys: development)" in verified.output
    refused = runner.invoke(main, ["checkpoints", "take"])
    assert refused.exit_code == 1
    assert "no signing key" in refused.output

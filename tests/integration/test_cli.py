"""The operator commands: verify names a tampered position, rebuild names a difference."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from projections.views import views_path
from scripts.cli import main
from tests.integration.test_read_side import record_a_small_history
from tests.support import at, ledger_at, set_reference_standards


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    with ledger.original_time(at("2019-01-02 09:00")):
        set_reference_standards(ledger)
    record_a_small_history(ledger)
    ledger.close()
    return path


def test_verify_prints_the_head_and_accepts_it_later(ledger_file: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["verify"])
    assert first.exit_code == 0, first.output
    head = first.output.split()[1]
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
    assert f"the event at position {altered} was altered" in result.output


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


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for command in ("project", "verify", "rebuild", "protect"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output

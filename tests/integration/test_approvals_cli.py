"""``ledger approvals``: what waits for a second person, for approvers at the command line."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from domain.application.recording import SaveAt
from tests.support import QIBIN, at, ledger_at, person, set_reference_standards


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    ledger.grant_relief(
        QIBIN,
        "urban",
        "expenditure",
        date(2020, 5, 1),
        2,
        "7200.01",
        person(date(1970, 1, 1), 1),
        actor="alice",
        reason="medical bills",
        uow=SaveAt(ledger, at("2020-05-02 10:00")),
    )
    case = ledger.grant(
        "disability-living",
        QIBIN,
        "2020-01",
        [person(date(1955, 5, 5), 2)],
        grade=1,
        actor="cw",
        reason="certificate",
        uow=SaveAt(ledger, at("2020-05-03 10:00")),
    ).id
    ledger.request_rescission(
        case, actor="carol", reason="forged", uow=SaveAt(ledger, at("2020-06-01 10:00"))
    )
    ledger.approve_rescission(
        case, actor="dave", reason="confirmed", uow=SaveAt(ledger, at("2020-06-02 10:00"))
    )
    ledger.close()
    return path


def test_approvals_lists_what_waits_now_and_as_known_on_an_earlier_day(
    ledger_file: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    now = runner.invoke(main, ["approvals"])
    assert now.exit_code == 0, now.output
    assert "relief" in now.output and "7200.01" in now.output and "alice" in now.output
    assert "rescission" not in now.output
    assert "1 requests waiting for approval" in now.output

    output = tmp_path / "approvals.csv"
    earlier = runner.invoke(
        main,
        ["approvals", "--known-at", "2020-06-01", "--format", "csv", "--output", str(output)],
    )
    assert earlier.exit_code == 0, earlier.output
    with output.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(r["what"], r["requested_by"], r["reason"], r["amount"], r["cap"]) for r in rows] == [
        ("relief", "alice", "medical bills", "7200.01", "7200.00"),
        ("rescission", "carol", "forged", "", ""),
    ]


def test_approvals_refuses_an_unknown_region_naming_the_option(ledger_file: Path) -> None:
    result = CliRunner().invoke(main, ["approvals", "--region", "999999"])
    assert result.exit_code == 2
    assert "--region" in result.output

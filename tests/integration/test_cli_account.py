"""``ledger account CASE``: a case's months on the command line, as of a month and as known at
a time or a position."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.bootstrap import opened
from api.core.settings import Settings
from tests.integration.test_case_account import (
    AccountsHistory,
    record_a_history_with_settlements,
)


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AccountsHistory:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    with opened(Settings(database_url=url)) as runtime:
        return record_a_history_with_settlements(runtime)


def rows(stdout: str) -> dict[str, list[str]]:
    cells = [line.split() for line in stdout.splitlines()]
    return {row[0]: row[1:] for row in cells if row and row[0][:2] == "20" and row[0][4:5] == "-"}


def test_the_account_lists_each_month_with_what_was_paid_settled_and_is_outstanding(
    history: AccountsHistory,
) -> None:
    result = CliRunner().invoke(main, ["account", history.raised.hex, "--as-of", "2020-09"])
    assert result.exit_code == 0, result.output
    months = rows(result.stdout)
    assert list(months) == [f"2020-0{m}" for m in range(3, 10)]
    assert months["2020-07"] == ["paying", "1350.00", "1200.00", "150.00", "0.00", "0.00"]
    assert months["2020-08"] == ["paying", "1500.00", "1350.00", "0.00", "0.00", "150.00"]
    assert months["2020-09"] == ["paying", "1500.00"]
    assert (
        f"Case {history.raised.hex}: dibao-urban 410611 Qibin District, through 2020-09, as "
        "known at position"
    ) in result.stdout
    assert rows(result.stdout).get("total") is None
    (total,) = [line.split() for line in result.stdout.splitlines() if "total" in line.split()]
    assert total == ["total", "9150.00", "7350.00", "150.00", "0.00", "150.00"]


def test_the_account_as_known_before_the_raise_and_as_csv(
    history: AccountsHistory, tmp_path: Path
) -> None:
    target = tmp_path / "account.csv"
    result = CliRunner().invoke(
        main,
        [
            "account",
            str(history.raised),
            "--as-of",
            "2020-07",
            "--known-at",
            "2020-08-19",
            "--format",
            "csv",
            "--output",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8") as file:
        july = [row for row in csv.DictReader(file) if row["month"] == "2020-07"]
    assert [(r["entitled"], r["paid"], r["outstanding"]) for r in july] == [
        ("1200.00", "1200.00", "0.00")
    ]


def test_an_unknown_case_or_a_malformed_id_is_one_line(history: AccountsHistory) -> None:
    unknown = CliRunner().invoke(main, ["account", "0" * 32])
    assert unknown.exit_code == 1
    assert f"no case {'0' * 32} was known at position" in unknown.stderr
    malformed = CliRunner().invoke(main, ["account", "case-1"])
    assert malformed.exit_code == 2
    assert "a case id: 32 hexadecimal digits" in malformed.output

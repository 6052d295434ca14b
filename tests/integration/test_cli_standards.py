"""``ledger standards PROGRAMME REGION``: the standard in force and who changed it, when and
why, as of a month and as known at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from domain.application.recording import SaveAt
from tests.support import QIBIN, at, ledger_at


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    for when, effective, standard, reason, correct in (
        ("2020-01-02 09:00", "2020-01", "600", "notice 2019-12", False),
        ("2020-08-20 10:00", "2020-07", "650", "notice 2020-08", False),
        ("2020-08-21 11:30", "2020-07", "640", "650 was a typing error", True),
    ):
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            effective,
            {"standard": standard},
            actor="li.finance",
            reason=reason,
            correction=correct,
            uow=SaveAt(ledger, at(when)),
        )
    ledger.close()
    return path


def test_standards_print_the_one_in_force_and_every_change(ledger_file: Path) -> None:
    result = CliRunner().invoke(main, ["standards", "dibao-urban", QIBIN, "--as-of", "2020-08"])
    assert result.exit_code == 0, result.output
    assert (
        "dibao-urban 410611 Qibin District, in force in 2020-08: standard 640.00 (from 2020-07"
        in result.stdout
    )
    changes = [line for line in result.stdout.splitlines() if line.strip().startswith("2020-")]
    assert [line.split()[:6] for line in changes] == [
        ["2020-01-02", "09:00", "2", "set", "2020-01", "600.00"],
        ["2020-08-20", "10:00", "3", "set", "2020-07", "650.00"],
        ["2020-08-21", "11:30", "4", "corrected", "2020-07", "640.00"],
    ]
    assert changes[2].split()[6:] == ["li.finance", "650", "was", "a", "typing", "error"]


def test_standards_as_known_before_the_correction(ledger_file: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["standards", "dibao-urban", QIBIN, "--as-of", "2020-08", "--known-at", "2020-08-20"],
    )
    assert result.exit_code == 0, result.output
    assert "in force in 2020-08: standard 650.00 (from 2020-07" in result.stdout
    assert "corrected" not in result.stdout


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["lottery", QIBIN], "unknown programme 'lottery'"),
        (["temporary-relief", QIBIN], "temporary-relief has no standards schedule"),
        (["dibao-urban", "999999"], "region '999999' is not in the region catalogue"),
    ],
)
def test_standards_of_an_unknown_programme_or_region_are_a_usage_error(
    ledger_file: Path, arguments: list[str], words: str
) -> None:
    result = CliRunner().invoke(main, ["standards", *arguments])
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output

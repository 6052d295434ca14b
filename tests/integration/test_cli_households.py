"""``ledger verify-households`` sends the requests waiting in the outbox to the platform and
records its answers; ``ledger reviews`` lists the households due for review, or for exit."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.bootstrap import opened
from api.core.settings import Settings
from domain.months import BUREAU_TIME_ZONE, Month
from tests.e2e.fake_platform import FakePlatform, fake_platform
from tests.support import QIBIN, person, set_reference_standards, verified_household

HOUSEHOLD = [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)]


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with fake_platform(income="700.00") as platform:
        yield platform


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UUID:
    """A dibao household granted this month, and a re-verification of it requested."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    with opened(Settings(database_url=url)) as runtime:
        ledger = runtime.ledger
        set_reference_standards(ledger)
        case = ledger.grant(
            "dibao-urban",
            QIBIN,
            str(Month.at(datetime.now(BUREAU_TIME_ZONE))),
            HOUSEHOLD,
            income="200",
            verification_id=verified_household(ledger, HOUSEHOLD),
            actor="cw",
            reason="applied",
        ).id
        numbers = [p.identity_number for p in HOUSEHOLD]
        ledger.request_verification(numbers, case_id=case, actor="cw")
        return case


def listed(folder: Path, as_of: Month, *options: str) -> list[dict[str, str]]:
    path = folder / f"reviews-{as_of}{''.join(options)}.csv"
    command = ["reviews", "--as-of", str(as_of), "--output", str(path), *options]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    with path.open(encoding="utf-8") as table:
        return list(csv.DictReader(table))


def test_the_outbox_records_the_platforms_answer_and_the_review_lists_follow_it(
    case: UUID, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    month = Month.at(datetime.now(BUREAU_TIME_ZONE))
    assert [r["case"] for r in listed(tmp_path, month + 6)] == [case.hex]
    assert listed(tmp_path, month, "--exit-candidates") == []

    unset = CliRunner().invoke(main, ["verify-households", "--once"])
    assert unset.exit_code != 0
    assert "LEDGER_VERIFICATION_PLATFORM_URL is not set" in unset.output
    monkeypatch.setenv("LEDGER_VERIFICATION_PLATFORM_URL", platform.url)
    sent = CliRunner().invoke(main, ["verify-households", "--once"])
    assert sent.exit_code == 0, sent.output
    assert "answered 1, waiting 0" in sent.output
    assert len(platform.requests) == 1

    # The platform found 700 a month each, above the standard of 600.
    (candidate,) = listed(tmp_path, month, "--exit-candidates")
    assert (candidate["case"], candidate["exit candidate"]) == (case.hex, "yes")
    assert [r["state"] for r in listed(tmp_path, month + 6)] == ["due"]
    again = CliRunner().invoke(main, ["verify-households", "--once"])
    assert "answered 0, waiting 0" in again.output
    assert len(platform.requests) == 1

"""The decisions-file import on SQLite and PostgreSQL: what its closes pay and settle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.services import importing
from api.services.importing import BadFileError, check_file, import_file
from domain.months import Month
from projections.engine.projector import Projector
from projections.reads.period_accounts import Accounts
from projections.reads.read_side import ReadSide
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number, watch_projectors

D = Decimal


def decisions_file(folder: Path, lines: list[dict[str, Any]]) -> Path:
    path = folder / "decisions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def close(month: str, at: str) -> dict[str, Any]:
    return {
        "decision": "close_period",
        "at": at,
        "actor": "finance-office",
        "programme": "dibao-urban",
        "region": QIBIN,
        "month": month,
    }


def standard(effective: str, amount: str, at: str) -> dict[str, Any]:
    return {
        "decision": "set_standard",
        "at": at,
        "actor": "finance-office",
        "programme": "dibao-urban",
        "region": QIBIN,
        "effective": effective,
        "parameters": {"standard": amount},
        "reason": "provincial notice",
    }


# Reference case 1 as a file: a household of 3 paid 1200.00 from 2020-03; a raise to 650
# effective 2020-04 is recorded in May, after April closed; May and June then close on two
# consecutive lines, one run of closes computed at one position.
RETROACTIVE_RAISE_THEN_TWO_CLOSES = [
    standard("2020-01", "600", "2020-01-02T09:00:00+08:00"),
    {
        "decision": "verify_household",
        "at": "2020-03-02T10:00:00+08:00",
        "actor": "caseworker-1",
        "verification": "v1",
        "members": [
            {"identity_number": identity_number(date(1980, 1, 1), n), "income": "200"}
            for n in (1, 2, 3)
        ],
        "sources": ["wages", "pensions", "real-estate"],
        "made_on": "2020-03-01",
        "level": "city",
        "report_id": "HB-2020-0001",
    },
    {
        "decision": "grant",
        "at": "2020-03-02T10:00:00+08:00",
        "actor": "caseworker-1",
        "case": "h1",
        "programme": "dibao-urban",
        "region": QIBIN,
        "effective": "2020-03",
        "persons": [
            {"identity_number": identity_number(date(1980, 1, 1), n), "name": f"成员{n}"}
            for n in (1, 2, 3)
        ],
        "income": "200",
        "verification": "v1",
        "reason": "application assessed",
    },
    close("2020-03", "2020-03-31T18:00:00+08:00"),
    close("2020-04", "2020-04-30T18:00:00+08:00"),
    standard("2020-04", "650", "2020-05-20T10:00:00+08:00"),
    close("2020-05", "2020-05-31T18:00:00+08:00"),
    close("2020-06", "2020-06-30T18:00:00+08:00"),
]


class ImportOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def runtime(self, database_url: str) -> Iterator[Runtime]:
        with opened(Settings(database_url=database_url)) as runtime:
            yield runtime

    def test_two_closes_in_a_row_settle_a_retroactive_raise_once(
        self, runtime: Runtime, tmp_path: Path
    ) -> None:
        lines = RETROACTIVE_RAISE_THEN_TWO_CLOSES
        path = decisions_file(tmp_path, lines)
        import_file(runtime.ledger, runtime.views, path)
        runtime.projector.catch_up()
        position = ReadSide(runtime.views).position
        accounts = Accounts(runtime.views)
        periods = accounts.periods(position, "dibao-urban", QIBIN)
        # The arrears each close recorded, and whether its digest is what replay recomputes.
        assert [(str(p.month), p.arrears, p.digest_matches) for p in periods] == [
            ("2020-03", D("0.00"), True),
            ("2020-04", D("0.00"), True),
            ("2020-05", D("150.00"), True),
            ("2020-06", D("0.00"), True),
        ]
        june = [
            (line.amount, line.arrears, line.recoveries)
            for line, _holder in accounts.lines("dibao-urban", QIBIN, Month.parse("2020-06"))
        ]
        assert june == [(D("1350.00"), D("0.00"), D("0.00"))]
        months = {str(a.month): a for a in accounts.closed_months(position, "dibao-urban", QIBIN)}
        april, may = months["2020-04"], months["2020-05"]
        assert (april.entitled, april.paid, april.arrears, april.outstanding) == (
            D("1350.00"),
            D("1200.00"),
            D("150.00"),
            D("0.00"),
        )
        assert (may.entitled, may.paid, may.arrears) == (D("1350.00"), D("1350.00"), D("0.00"))
        assert all(account.balances for account in months.values())

    def test_a_close_counts_every_decision_before_it_when_another_projector_took_the_views(
        self, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        lines = RETROACTIVE_RAISE_THEN_TWO_CLOSES
        path = decisions_file(tmp_path, lines)
        rival = Projector(runtime.ledger.recorder, runtime.ledger.mapper, runtime.views)
        decode = Projector._decode

        def raced(projector: Projector, notifications: Any) -> Any:
            # Every batch the import's projector reads is projected by the rival first.
            if projector is not rival:
                rival.catch_up()
            return decode(projector, notifications)

        monkeypatch.setattr(Projector, "_decode", raced)
        import_file(runtime.ledger, runtime.views, path)
        monkeypatch.undo()
        rival.catch_up()
        position = ReadSide(runtime.views).position
        periods = Accounts(runtime.views).periods(position, "dibao-urban", QIBIN)
        assert [(str(p.month), p.arrears) for p in periods] == [
            ("2020-03", D("0.00")),
            ("2020-04", D("0.00")),
            ("2020-05", D("150.00")),  # the raise recorded before its close
            ("2020-06", D("0.00")),
        ]

    def test_an_import_lets_go_of_what_it_held_before_collections_return_to_their_pace(
        self, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Collections at the usual pace soon walk every live object: the projector's held
        # subjects and the aggregates at hand must be gone by then.
        lines = RETROACTIVE_RAISE_THEN_TWO_CLOSES
        path = decisions_file(tmp_path, lines)
        watched = watch_projectors(importing, monkeypatch)
        assert import_file(runtime.ledger, runtime.views, path).imported == len(lines)
        assert watched.made
        assert watched.alive_at_the_end == []


class TestImportOnSQLite(OnSQLite, ImportOnStore):
    pass


class TestImportOnPostgreSQL(OnPostgreSQL, ImportOnStore):
    pass


def test_the_file_check_refuses_people_born_after_their_decision_or_too_long_ago(
    tmp_path: Path,
) -> None:
    def grant(case: str, at: str, *births: date) -> dict[str, Any]:
        return {
            "decision": "grant",
            "at": at,
            "actor": "caseworker-1",
            "case": case,
            "programme": "dibao-urban",
            "region": QIBIN,
            "effective": "2020-03",
            "persons": [
                {"identity_number": identity_number(birth, n), "name": f"成员{n}"}
                for n, birth in enumerate(births, start=1)
            ],
            "income": "200",
            "reason": "application assessed",
        }

    lines = [
        standard("2020-01", "600", "2020-01-02T09:00:00+08:00"),
        grant("born-later", "2020-03-02T10:00:00+08:00", date(1980, 1, 1), date(2020, 3, 3)),
        grant("born-1800", "2020-03-02T10:00:00+08:00", date(1800, 1, 1)),
        grant("newborn", "2020-03-02T10:00:00+08:00", date(2020, 3, 2)),
    ]
    path = decisions_file(tmp_path, lines)
    with opened(Settings(database_url="memory:")) as runtime:
        with pytest.raises(BadFileError) as refused:
            check_file(runtime.ledger, path)
        assert runtime.ledger.position == 0
    assert [(bad.number, bad.reason.split(":")[0]) for bad in refused.value.bad] == [
        (2, "persons[1].identity_number"),
        (3, "persons[0].identity_number"),
    ]

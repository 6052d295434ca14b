"""Household members joining and leaving, loaded from a decisions file: the file says it as
an HTTP request would, the amounts and entitlements follow, and the views equal a rebuild."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.services.import_format import key_id
from api.services.importing import BadFileError, import_file
from domain.months import Month
from domain.people.identity import IdentityNumber
from projections.engine.rebuild import rebuild_and_compare
from projections.storage.opening import open_views
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

PARENT, OTHER_PARENT = identity_number(date(1980, 1, 1), 1), identity_number(date(1982, 2, 2), 2)
BABY = identity_number(date(2020, 7, 9), 3)


def line(decision: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"decision": decision, "at": at, "actor": "caseworker-1", **fields}


def verified(key: str, at: str, members: list[str], income: str) -> dict[str, Any]:
    """The city platform's verification of the household ``members``, each earning
    ``income`` a month, made the day before ``at``."""
    return line(
        "verify_household",
        at,
        verification=key,
        members=[{"identity_number": number, "income": income} for number in members],
        sources=["wages", "pensions"],
        made_on=str(date.fromisoformat(at[:10]) - timedelta(days=1)),
        level="city",
        report_id=f"HB-{key}",
    )


HOUSEHOLD_CHANGES = [
    line(
        "set_standard",
        "2020-01-02T09:00:00+08:00",
        programme="dibao-urban",
        region=QIBIN,
        effective="2020-01",
        parameters={"standard": "600"},
        reason="provincial notice",
    ),
    verified("v1", "2020-03-02T10:00:00+08:00", [PARENT, OTHER_PARENT], "200"),
    line(
        "grant",
        "2020-03-02T10:00:00+08:00",
        case="h1",
        programme="dibao-urban",
        region=QIBIN,
        effective="2020-03",
        persons=[
            {"identity_number": PARENT, "name": "父亲"},
            {"identity_number": OTHER_PARENT, "name": "母亲"},
        ],
        income="200",
        verification="v1",
        reason="application assessed",
    ),
    verified("v2", "2020-07-20T10:00:00+08:00", [PARENT, OTHER_PARENT, BABY], "200"),
    line(
        "reassess",
        "2020-07-20T10:00:00+08:00",
        case="h1",
        effective="2020-08",
        changes={
            "members_joining": [
                {"identity_number": BABY, "name": "小宝", "birth_date": "2020-07-09"}
            ]
        },
        verification="v2",
        reason="birth",
    ),
    verified("v3", "2021-03-05T10:00:00+08:00", [PARENT, BABY], "250"),
    line(
        "reassess",
        "2021-03-05T10:00:00+08:00",
        case="h1",
        effective="2021-03",
        changes={"members_leaving": [OTHER_PARENT], "income": "250"},
        verification="v3",
        reason="moved out; income reassessed",
    ),
]


class ImportHouseholdsOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def runtime(self, database_url: str) -> Iterator[Runtime]:
        with opened(Settings(database_url=database_url)) as runtime:
            yield runtime

    def write(self, path: Path, lines: list[dict[str, Any]]) -> Path:
        text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)
        path.write_text(text, encoding="utf-8")
        return path

    def test_members_joining_and_leaving_import_and_project_equal_to_a_rebuild(
        self, runtime: Runtime, tmp_path: Path
    ) -> None:
        import_file(
            runtime.ledger, runtime.views, self.write(tmp_path / "h.jsonl", HOUSEHOLD_CHANGES)
        )
        ledger, case = runtime.ledger, key_id("case", "h1")
        assert [str(ledger.monthly_amount(case, m)) for m in ("2020-07", "2020-08", "2021-03")] == [
            "800.00",
            "1200.00",
            "700.00",
        ]
        runtime.projector.catch_up()
        read = runtime.read_side

        def entitled(number: str, month: str) -> int:
            reference = ledger.references.reference(IdentityNumber.parse(number))
            return len(read.entitlements(reference, Month.parse(month), read.position))

        assert [entitled(BABY, m) for m in ("2020-07", "2020-08")] == [0, 1]
        assert [entitled(OTHER_PARENT, m) for m in ("2021-02", "2021-03")] == [1, 0]
        scratch = open_views(ledger.env, schema="ledger_rebuild")
        try:
            assert rebuild_and_compare(ledger.recorder, ledger.mapper, runtime.views, scratch) == []
        finally:
            scratch.close()

    def test_a_bad_number_of_a_joining_or_leaving_member_is_named_and_nothing_stored(
        self, runtime: Runtime, tmp_path: Path
    ) -> None:
        lines = json.loads(json.dumps(HOUSEHOLD_CHANGES))
        lines[4]["changes"]["members_joining"][0]["birth_date"] = "2020-07-10"
        wrong = OTHER_PARENT[:17] + ("1" if OTHER_PARENT[17] == "0" else "0")
        lines[6]["changes"]["members_leaving"] = [wrong]
        with pytest.raises(BadFileError) as refusal:
            import_file(runtime.ledger, runtime.views, self.write(tmp_path / "bad.jsonl", lines))
        assert [(bad.number, bad.reason) for bad in refusal.value.bad] == [
            (
                5,
                "changes.members_joining[0].birth_date: the birth date given disagrees with the "
                "one in the identity number",
            ),
            (
                7,
                "changes.members_leaving[0]: the identity number's check character is wrong: "
                "please re-type the number",
            ),
        ]
        assert runtime.ledger.position == 0


class TestImportHouseholdsOnSQLite(OnSQLite, ImportHouseholdsOnStore):
    pass


class TestImportHouseholdsOnPostgreSQL(OnPostgreSQL, ImportHouseholdsOnStore):
    pass

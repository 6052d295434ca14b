"""Who may act where: a token names the regions its user serves, and decisions and reads
outside them are refused (403) or left out; auditors and finance may serve the whole city."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from httpx2 import Response

from api.cli import main
from api.core.identities import ISSUER, Role, TokenReader
from api.core.settings import Settings
from domain.people.person import PersonInput
from tests.e2e.service import Service, running
from tests.support import QIBIN, identity_number

QI = "410622"
CW, AP, FI, AU, VI = Role.CASEWORKER, Role.APPROVER, Role.FINANCE, Role.AUDITOR, Role.VIEWER
SOMEONE = identity_number(date(1960, 1, 1), 40)


@dataclass(frozen=True)
class City:
    """A person with a case in Qibin and one in Qi County, and emergency relief in Qi County
    whose review is overdue."""

    service: Service
    qibin_case: str
    qi_case: str
    qi_relief: str

    def post(self, path: str, body: dict[str, Any] | None, role: Role, *regions: str) -> Response:
        headers = self.service.as_(role, f"{role.value}-{'-'.join(regions)}", regions or None)
        return self.service.client.post(path, json=body, headers=headers)

    def get(self, path: str, role: Role, *regions: str, **params: Any) -> Response:
        headers = self.service.as_(role, f"{role.value}-{'-'.join(regions)}", regions or None)
        return self.service.client.get(path, params=params, headers=headers)

    @property
    def position(self) -> int:
        return self.service.runtime.ledger.position


@pytest.fixture
def city(sqlite_url: str) -> Iterator[City]:
    with running(sqlite_url) as service:
        ledger = service.runtime.ledger
        for region in (QIBIN, QI):
            for programme, parameters in (
                ("disability-living", {"standard": "500"}),
                ("disability-nursing", {"standard": "300"}),
                ("dibao-urban", {"standard": "600"}),
            ):
                ledger.set_standard(programme, region, "2019-01", parameters, actor="f", reason="n")
        someone = PersonInput(SOMEONE, "甲")
        qibin_case = ledger.grant(
            "disability-living", QIBIN, "2020-01", [someone], grade=1, actor="cw", reason="r"
        ).id
        qi_case = ledger.grant(
            "disability-nursing", QI, "2020-01", [someone], grade=1, actor="cw", reason="r"
        ).id
        qi_relief = ledger.grant_relief(
            QI,
            "urban",
            "emergency",
            date(2020, 1, 2),
            1,
            "100",
            PersonInput(identity_number(date(1970, 1, 1), 41), "乙"),
            actor="cw",
            reason="r",
        ).id
        service.runtime.read_side.wait_for(ledger.position)
        yield City(service, qibin_case.hex, qi_case.hex, qi_relief.hex)


def grant(region: str, serial: int) -> dict[str, Any]:
    return {
        "programme": "disability-living",
        "region": region,
        "effective": "2020-02",
        "grade": 2,
        "persons": [{"identity_number": identity_number(date(1965, 1, 1), serial), "name": "丙"}],
        "reason": "certificate",
    }


def relief(region: str) -> dict[str, Any]:
    return {
        "region": region,
        "area": "urban",
        "kind": "expenditure",
        "relief_date": "2020-03-01",
        "household_size": 1,
        "amount": "100",
        "person": {"identity_number": identity_number(date(1966, 1, 1), 42), "name": "丁"},
        "reason": "hospital bill",
    }


def test_a_caseworker_of_qibin_decides_in_qibin_and_nowhere_else(city: City) -> None:
    before = city.position
    dated = {"effective": "2020-06", "reason": "r"}
    refused = [
        city.post("/cases", grant(QI, 1), CW, QIBIN),
        city.post(f"/cases/{city.qi_case}/suspensions", dated, CW, QIBIN),
        city.post(f"/cases/{city.qi_case}/rescission-requests", {"reason": "r"}, CW, QIBIN),
        city.post("/reliefs", relief(QI), CW, QIBIN),
        city.post(
            f"/reliefs/{city.qi_relief}/reviews", {"outcome": "confirmed", "reason": "r"}, CW, QIBIN
        ),
    ]
    assert [answer.status_code for answer in refused] == [403] * 5
    assert refused[0].headers["content-type"] == "application/problem+json"
    assert f"{QI} is outside the regions you serve as caseworker ({QIBIN})" in refused[0].text
    assert city.position == before
    assert city.post("/cases", grant(QIBIN, 2), CW, QIBIN).status_code == 201
    assert city.post(f"/cases/{city.qibin_case}/suspensions", dated, CW, QIBIN).status_code == 201
    assert city.post("/reliefs", relief(QIBIN), CW, QIBIN).status_code == 201
    assert city.post(f"/cases/{city.qi_case}/suspensions", dated, CW, QIBIN, QI).status_code == 201


def test_an_approver_approves_only_in_the_regions_they_serve(city: City) -> None:
    path = f"/cases/{city.qi_case}/rescission"
    assert city.post(f"{path}-requests", {"reason": "forged"}, CW, QI).status_code == 201
    assert city.post(f"{path}-approvals", {"reason": "ok"}, AP, QIBIN).status_code == 403
    assert city.post(f"{path}-approvals", {"reason": "ok"}, AP, QI).status_code == 201


def test_reads_outside_the_regions_served_are_refused_or_left_out(city: City) -> None:
    as_of = {"as_of": "2020-01"}
    assert city.get(f"/rolls/disability-nursing/{QI}", VI, QIBIN, **as_of).status_code == 403
    assert city.get(f"/rolls/disability-living/{QIBIN}", VI, QIBIN, **as_of).status_code == 200
    assert city.get(f"/cases/{city.qi_case}", CW, QIBIN).status_code == 403
    assert city.get(f"/cases/{city.qibin_case}", CW, QIBIN).status_code == 200
    assert city.get(f"/reliefs/{city.qi_relief}", CW, QIBIN).status_code == 403
    assert city.get(f"/reliefs/{city.qi_relief}", CW, QI).status_code == 200
    assert city.get("/totals", CW, QIBIN, region=QI, **as_of).status_code == 403

    def searched(*regions: str) -> list[str]:
        answer = city.post(
            "/entitlements/search?as_of=2020-01", {"identity_number": SOMEONE}, VI, *regions
        )
        assert answer.status_code == 200, answer.text
        return sorted(e["region"] for e in answer.json()["entitlements"])

    assert searched(QIBIN) == [QIBIN]
    assert searched(QI) == [QI]
    assert searched(QIBIN, QI) == [QIBIN, QI]

    def totals(role: Role, *regions: str) -> list[str]:
        answer = city.get("/totals", role, *regions, **as_of)
        assert answer.status_code == 200, answer.text
        return sorted({row["region"] for row in answer.json()["totals"]})

    assert totals(CW, QIBIN) == [QIBIN]
    assert totals(AU) == [QIBIN, QI]

    def overdue(role: Role, *regions: str) -> list[str]:
        answer = city.get("/reliefs/overdue-reviews", role, *regions)
        assert answer.status_code == 200, answer.text
        return [r["region"] for r in answer.json()["reliefs"]]

    assert overdue(CW, QIBIN) == []
    assert overdue(CW, QI) == [QI]
    assert overdue(AU) == [QI]


def test_finance_and_auditors_may_serve_the_whole_city_or_some_regions(city: City) -> None:
    closes = [
        (f"/periods/disability-living/{QIBIN}/2020-01/close", QIBIN),
        (f"/periods/disability-nursing/{QI}/2020-01/close", QI),
    ]
    standard = {"effective": "2020-02", "parameters": {"standard": "550"}, "reason": "notice"}
    assert city.post(closes[1][0], None, FI, QIBIN).status_code == 403
    standards = "/standards/disability-living"
    assert city.post(f"{standards}/{QI}", standard, FI, QIBIN).status_code == 403
    assert city.post(f"{standards}/{QIBIN}", standard, FI, QIBIN).status_code == 201
    for path, _region in closes:
        assert city.post(path, None, FI).status_code == 201  # the whole city
    period = f"/periods/disability-nursing/{QI}/2020-01"
    assert city.get(period, AU, QIBIN, wait_for_position=city.position).status_code == 403
    assert city.get(period, AU, wait_for_position=city.position).status_code == 200

    def reconciled(role: Role, *regions: str) -> list[str]:
        answer = city.get("/reconciliation", role, *regions, wait_for_position=city.position)
        assert answer.status_code == 200, answer.text
        return sorted(row["programme"] for row in answer.json()["rows"])

    assert reconciled(FI, QIBIN) == ["disability-living"]
    assert reconciled(AU) == ["disability-living", "disability-nursing"]


def test_a_caseworker_whose_token_names_no_region_may_act_nowhere(city: City) -> None:
    secret = city.service.settings.jwt_secret
    assert secret is not None
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "sub": "ann", "role": "caseworker", "iat": now}
    for regions in ({}, {"regions": "*"}):
        token = jwt.encode(
            {**claims, **regions, "exp": now + timedelta(minutes=5)},
            secret.get_secret_value(),
            algorithm="HS256",
        )
        answer = city.service.client.post(
            "/cases", json=grant(QIBIN, 3), headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 403
        assert "names none" in answer.json()["detail"]


def test_ledger_token_names_the_regions_served(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    runner = CliRunner()
    made = runner.invoke(main, ["token", "ann", "caseworker", "--region", QIBIN, "--region", QI])
    assert made.exit_code == 0, made.output
    secret = Settings(database_url=url).jwt_secret
    assert secret is not None
    user = TokenReader(secret.get_secret_value()).read(made.stdout.strip())
    assert user.regions == frozenset({QIBIN, QI})
    auditor = runner.invoke(main, ["token", "zoe", "auditor"])
    assert TokenReader(secret.get_secret_value()).read(auditor.stdout.strip()).regions is None
    for refused in (
        ["token", "ann", "caseworker"],
        ["token", "ann", "viewer", "--region", "999999"],
    ):
        answer = runner.invoke(main, refused)
        assert answer.exit_code == 2
        assert "--region" in answer.output

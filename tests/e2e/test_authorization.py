"""Every route for every role: allowed or refused as the role table says; bad tokens are 401."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
import pytest

from api.core.identities import Role, mint_token
from domain.people.person import PersonInput
from tests.e2e.service import Service, running
from tests.support import QIBIN, identity_number, public_development_key

CW, AP, FI, AU, VI = Role.CASEWORKER, Role.APPROVER, Role.FINANCE, Role.AUDITOR, Role.VIEWER
STAFF = {CW, AP, FI, AU}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None
    allowed: frozenset[Role]


def person(serial: int) -> dict[str, str]:
    return {"identity_number": identity_number(date(1960, 1, 1), serial), "name": "某人"}


def routes(case: str, relief: str) -> list[Route]:
    dated = {"effective": "2020-06", "reason": "r"}
    period = f"/periods/disability-living/{QIBIN}/2020-01"
    return [
        Route(
            "POST",
            f"/standards/disability-living/{QIBIN}",
            {"effective": "2020-02", "parameters": {"standard": "510"}, "reason": "r"},
            frozenset({FI}),
        ),
        Route(
            "POST",
            f"/standards/disability-living/{QIBIN}/corrections",
            {"effective": "2019-01", "parameters": {"standard": "500"}, "reason": "r"},
            frozenset({FI}),
        ),
        Route("GET", f"/standards/disability-living/{QIBIN}", None, frozenset(STAFF)),
        Route(
            "POST",
            "/cases",
            {
                "programme": "disability-living",
                "region": QIBIN,
                "effective": "2020-01",
                "grade": 1,
                "persons": [person(50)],
                "reason": "r",
            },
            frozenset({CW}),
        ),
        Route("GET", f"/cases/{case}", None, frozenset(STAFF)),
        Route("GET", f"/cases/{case}/account", None, frozenset(STAFF)),
        Route(
            "POST",
            f"/cases/{case}/reassessments",
            {"effective": "2020-03", "changes": {"grade": 2}, "reason": "r"},
            frozenset({CW}),
        ),
        Route("POST", f"/cases/{case}/suspensions", dated, frozenset({CW})),
        Route("POST", f"/cases/{case}/resumptions", dated, frozenset({CW})),
        Route("POST", f"/cases/{case}/gradual-exits", {**dated, "months": 3}, frozenset({CW})),
        Route("POST", f"/cases/{case}/exits", dated, frozenset({CW})),
        Route("POST", f"/cases/{case}/rescission-requests", {"reason": "r"}, frozenset({CW})),
        Route("POST", f"/cases/{case}/rescission-approvals", {"reason": "r"}, frozenset({AP})),
        Route(
            "POST",
            "/reliefs",
            {
                "region": QIBIN,
                "area": "urban",
                "kind": "emergency",
                "relief_date": "2020-01-05",
                "household_size": 1,
                "amount": "100",
                "person": person(51),
                "reason": "r",
            },
            frozenset({CW}),
        ),
        Route("GET", f"/reliefs/{relief}", None, frozenset(STAFF)),
        Route("GET", "/reliefs/overdue-reviews", None, frozenset(STAFF)),
        Route("POST", f"/reliefs/{relief}/approvals", {"reason": "r"}, frozenset({AP})),
        Route("GET", "/approvals", None, frozenset({AP, AU})),
        Route(
            "POST",
            f"/reliefs/{relief}/reviews",
            {"outcome": "confirmed", "reason": "r"},
            frozenset({CW, AP}),
        ),
        Route("POST", f"/periods/disability-living/{QIBIN}/2020-01/close", None, frozenset({FI})),
        Route("GET", f"/periods/disability-living/{QIBIN}/2020-01", None, frozenset({FI, AU})),
        Route(
            "GET",
            f"/periods/disability-living/{QIBIN}/2020-01/payments.xml",
            None,
            frozenset({FI, AU}),
        ),
        Route(
            "GET",
            f"/periods/disability-living/{QIBIN}/2020-01/payments.csv",
            None,
            frozenset({FI, AU}),
        ),
        Route(
            "POST",
            f"{period}/returns",
            {"case_id": case, "bank_reference": "R1", "reason": "AC04"},
            frozenset({FI}),
        ),
        Route("POST", "/payments/returns", None, frozenset({FI})),
        Route(
            "POST",
            f"/cases/{case}/payee-changes",
            {"account": "6222020200112345679", "reason": "r"},
            frozenset({CW}),
        ),
        Route("GET", f"/cases/{case}/payee", None, frozenset(STAFF)),
        Route("GET", f"/rolls/disability-living/{QIBIN}?as_of=2020-01", None, frozenset(Role)),
        Route(
            "POST",
            "/entitlements/search",
            {"identity_number": person(49)["identity_number"]},
            frozenset(Role),
        ),
        Route("GET", "/totals?as_of=2020-01", None, frozenset(STAFF)),
        Route("GET", "/reconciliation", None, frozenset({FI, AU})),
        Route("GET", "/reconciliation/months", None, frozenset({FI, AU})),
        Route("GET", "/audit/verification", None, frozenset({AU})),
        Route("GET", "/events?type=case.granted", None, frozenset(Role)),
        Route("GET", "/events/stream?limit=1", None, frozenset(Role)),
        Route("GET", "/subscriptions", None, frozenset(Role)),
        Route(
            "POST",
            "/dci/registry/sync/search",
            {
                "header": {
                    "message_id": "m",
                    "message_ts": "2020-07-31T10:00:00+08:00",
                    "action": "search",
                    "sender_id": "province",
                },
                "message": {"transaction_id": "t", "search_request": []},
            },
            frozenset(Role),
        ),
    ]


@pytest.fixture
def service(sqlite_url: str) -> Iterator[Service]:
    with running(sqlite_url) as service:
        yield service


@pytest.fixture
def seeded(service: Service) -> tuple[str, str]:
    ledger = service.runtime.ledger
    for programme, parameters in (
        ("disability-living", {"standard": "500"}),
        ("dibao-urban", {"standard": "600"}),
    ):
        ledger.set_standard(programme, QIBIN, "2019-01", parameters, actor="f", reason="n")
    case = ledger.grant(
        "disability-living",
        QIBIN,
        "2020-01",
        [PersonInput(person(49)["identity_number"], "甲")],
        grade=1,
        actor="cw",
        reason="r",
    ).id
    relief = ledger.grant_relief(
        QIBIN,
        "urban",
        "emergency",
        date(2020, 1, 2),
        1,
        "9999",
        PersonInput(person(48)["identity_number"], "乙"),
        actor="cw",
        reason="r",
    ).id
    service.runtime.read_side.wait_for(ledger.position)
    return case.hex, relief.hex


def call(service: Service, route: Route, headers: dict[str, str]) -> int:
    if route.method == "GET":
        return service.client.get(route.path, headers=headers).status_code
    return service.client.post(route.path, json=route.body, headers=headers).status_code


def test_every_route_allows_exactly_the_roles_in_the_table(
    service: Service, seeded: tuple[str, str]
) -> None:
    outcomes = {}
    for route in routes(*seeded):
        for role in Role:
            status = call(service, route, service.as_(role))
            outcomes[route.method, route.path, role.value] = (
                "refused"
                if status == 403
                else "allowed"
                if status not in (401, 403) and status < 500
                else str(status)
            )
    expected = {
        (route.method, route.path, role.value): "allowed" if role in route.allowed else "refused"
        for route in routes(*seeded)
        for role in Role
    }
    assert outcomes == expected


def test_every_route_but_health_needs_a_token(service: Service, seeded: tuple[str, str]) -> None:
    for route in routes(*seeded):
        assert call(service, route, {}) == 401, route.path
    assert service.client.get("/health").status_code == 200
    assert service.client.get("/ready").status_code == 200


def test_expired_unsigned_and_tampered_tokens_are_refused(
    service: Service, seeded: tuple[str, str]
) -> None:
    secret = service.settings.jwt_secret
    assert secret is not None
    expired = mint_token(
        secret.get_secret_value(), "ann", AU, 5, now=datetime.now(UTC) - timedelta(hours=1)
    )
    unsigned = (
        ".".join(
            jwt.utils.base64url_encode(json.dumps(part).encode()).decode()
            for part in (
                {"alg": "none", "typ": "JWT"},
                {
                    "sub": "ann",
                    "role": "auditor",
                    "iss": "social-assistance-ledger",
                    "iat": 0,
                    "exp": 2**31,
                },
            )
        )
        + "."
    )
    other_key = mint_token("not the service's key at all, 32+ bytes long", "ann", AU, 5)
    good = service.token(VI)
    header, payload, signature = good.split(".")
    promoted = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"viewer"', b'"auditor"')
    ).decode()
    tampered = f"{header}.{promoted}.{signature}"
    for token in (expired, unsigned, other_key, tampered, "not-a-token"):
        answer = service.client.get(
            "/audit/verification", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401, token
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_token_signed_with_the_public_development_key_of_old_is_refused(
    service: Service, seeded: tuple[str, str]
) -> None:
    forged = mint_token(public_development_key("token signing"), "mallory", AU, 5)
    answer = service.client.get(
        "/audit/verification", headers={"Authorization": f"Bearer {forged}"}
    )
    assert answer.status_code == 401

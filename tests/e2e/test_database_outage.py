"""When PostgreSQL cannot be reached, requests get 503 with Retry-After and nothing is
recorded; when it comes back, the service recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from api.core.identities import Role
from api.core.settings import postgres_url_with_dbname
from tests.e2e.service import Service, running
from tests.support import QIBIN, identity_number
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


def grant(serial: int) -> dict[str, Any]:
    return {
        "programme": "disability-living",
        "region": QIBIN,
        "effective": "2020-01",
        "grade": 1,
        "persons": [{"identity_number": identity_number(date(1960, 1, 1), serial), "name": "某"}],
        "reason": "r",
    }


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    params = conninfo_to_dict(postgres_url)
    proxy = TcpProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    proxy.start()
    yield proxy
    proxy.cut()


@pytest.fixture
def service(postgres_url: str, proxy: TcpProxy) -> Iterator[Service]:
    params = conninfo_to_dict(postgres_url)
    through_proxy = postgres_url.replace(f":{params.get('port') or 5432}/", f":{proxy.port}/")
    assert through_proxy != postgres_url
    with running(postgres_url_with_dbname(through_proxy, str(params["dbname"]))) as service:
        service.runtime.ledger.set_standard(
            "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
        )
        yield service


def until(condition: Any, attempts: int = 100) -> Any:
    """Ask again every 0.1 s until ``condition()`` answers something true."""
    for _ in range(attempts):
        if answer := condition():
            return answer
        time.sleep(0.1)
    raise AssertionError("the condition never held")


def test_an_outage_answers_503_with_retry_after_and_the_service_recovers(
    service: Service, proxy: TcpProxy, postgres_url: str
) -> None:
    assert service.post("/cases", grant(1), Role.CASEWORKER).status_code == 201
    proxy.cut()

    refused = until(
        lambda: (a := service.post("/cases", grant(2), Role.CASEWORKER)).status_code == 503 and a
    )
    assert refused.headers["Retry-After"] == "5"
    assert refused.headers["content-type"] == "application/problem+json"
    assert service.client.get("/ready").status_code == 503
    assert service.client.get("/health").status_code == 200

    proxy.start()
    until(lambda: service.client.get("/ready").status_code == 200)
    recovered = until(
        lambda: (a := service.post("/cases", grant(3), Role.CASEWORKER)).status_code == 201 and a
    )
    assert recovered.json()["position"] > 0
    roll = service.get(
        f"/rolls/disability-living/{QIBIN}",
        Role.AUDITOR,
        as_of="2020-01",
        wait_for_position=recovered.json()["position"],
    )
    cases = {entry["case_id"] for entry in roll.json()["entries"]}
    assert len(cases) == 2  # the first grant and the one after recovery; the refused one is not

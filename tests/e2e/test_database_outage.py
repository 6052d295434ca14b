"""When PostgreSQL cannot be reached, requests get 503 with Retry-After and nothing is
recorded; when it comes back, the service recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from httpx2 import Response
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from api.core.identities import Role
from api.core.settings import postgres_url_with_dbname
from tests.e2e.service import Service, running
from tests.support import QIBIN, identity_number
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres

WRITABLE = "-c default_transaction_read_only=off"  # the test's own sessions, whatever is set


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


def test_a_server_turned_read_only_answers_503_and_its_connections_are_replaced(
    postgres_url: str,
) -> None:
    """As a primary demoted to standby would: its connections still answer, but refuse
    every write. The refusal is a 503, and each such connection is closed, so once a
    primary is back the retries with the same key are stored once."""
    dbname = str(conninfo_to_dict(postgres_url)["dbname"])

    def restart_sessions(read_only: bool) -> None:
        with psycopg.connect(postgres_url, autocommit=True, options=WRITABLE) as admin:
            setting = "SET default_transaction_read_only = on" if read_only else "RESET ALL"
            admin.execute(sql.SQL("ALTER DATABASE {} " + setting).format(sql.Identifier(dbname)))
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )

    with running(postgres_url) as service:
        service.runtime.ledger.set_standard(
            "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
        )
        restart_sessions(read_only=True)
        refused = until(
            lambda: (
                (a := service.post("/cases", grant(1), Role.CASEWORKER, **{"Idempotency-Key": "k"}))
                and a.status_code == 503
                and a
            )
        )
        assert refused.headers["Retry-After"] == "5"
        assert refused.headers["content-type"] == "application/problem+json"

        with psycopg.connect(postgres_url, autocommit=True, options=WRITABLE) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} RESET ALL").format(sql.Identifier(dbname)))
        answers: list[Response] = []  # the server is a primary again
        while not answers or answers[-1].status_code != 201:
            answers.append(
                service.post("/cases", grant(1), Role.CASEWORKER, **{"Idempotency-Key": "k"})
            )
            assert len(answers) <= 50, [a.status_code for a in answers]
        assert {a.status_code for a in answers} <= {201, 503}
        roll = service.get(
            f"/rolls/disability-living/{QIBIN}",
            Role.AUDITOR,
            as_of="2020-01",
            wait_for_position=answers[-1].json()["position"],
        )
        assert [e["case_id"] for e in roll.json()["entries"]] == [
            answers[-1].json()["id"].replace("-", "")
        ]

"""The reads other systems send most (an entitlement search, a roll, totals, a case) answer
exactly what their OpenAPI document describes: every field it names and no other, money as
a decimal string, the position in the body and the ``Ledger-Position`` header. And a
position the ledger has not reached is refused by name, however the query asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from httpx2 import Response

from api.core.identities import Role
from api.http.threads import ReadThreads
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, identity_number

VI, CW, FI = Role.VIEWER, Role.CASEWORKER, Role.FINANCE
BORN = date(1960, 1, 1)
MONTH = "2020-03"


def documented(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    """The JSON schema of an operation's 200 answer, its reference followed."""
    answer = document["paths"][path][method]["responses"]["200"]
    reference: str = answer["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return schema


def fields_of(answer: Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body: dict[str, Any] = answer.json()
    return set(body)


class HotReads:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def service(self, database_url: str) -> Iterator[Service]:
        with running(database_url) as service:
            ledger = service.runtime.ledger
            ledger.set_standard(
                "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
            )
            yield service

    def granted(self, service: Service) -> tuple[str, int]:
        """A case granted over HTTP, and the position the views have reached with it."""
        answer = service.post(
            "/cases",
            {
                "programme": "disability-living",
                "region": QIBIN,
                "effective": "2020-01",
                "grade": 1,
                "persons": [{"identity_number": identity_number(BORN, 7), "name": "张三"}],
                "reason": "certificate",
            },
            CW,
        )
        assert answer.status_code == 201, answer.text
        recorded = answer.json()
        service.runtime.read_side.wait_for(recorded["position"])
        return recorded["id"], recorded["position"]

    def test_each_hot_read_answers_the_fields_its_document_names_with_one_amount(
        self, service: Service
    ) -> None:
        case_id, position = self.granted(service)
        document: dict[str, Any] = service.client.get("/openapi.json").json()
        at: dict[str, str | int] = {"as_of": MONTH, "known_at_position": position}

        searched = service.client.post(
            "/entitlements/search",
            json={"identity_number": identity_number(BORN, 7)},
            params=at,
            headers=service.as_(VI),
        )
        roll = service.get(f"/rolls/disability-living/{QIBIN}", VI, **at)
        totals = service.get("/totals", FI, **at, programme="disability-living")
        case = service.get(f"/cases/{case_id}", CW, **at)
        for answer, path, method in (
            (searched, "/entitlements/search", "post"),
            (roll, "/rolls/{programme}/{region}", "get"),
            (totals, "/totals", "get"),
            (case, "/cases/{case_id}", "get"),
        ):
            assert fields_of(answer) == set(documented(document, path, method)["properties"])
            assert answer.json()["position"] == position
        assert roll.headers["ledger-position"] == totals.headers["ledger-position"] == str(position)

        (entitlement,) = searched.json()["entitlements"]
        assert set(entitlement) == set(documented_item(document, "EntitlementPublic"))
        assert entitlement["subject_id"] == case_id.replace("-", "")
        assert (entitlement["programme"], entitlement["region"]) == ("disability-living", QIBIN)
        assert entitlement["status"] == roll.json()["entries"][0]["status"]
        amounts = {
            entitlement["amount"],
            roll.json()["entries"][0]["amount"],
            roll.json()["entitled"],
            totals.json()["totals"][0]["entitled"],
            case.json()["amount"],
        }
        assert len(amounts) == 1 and isinstance(entitlement["amount"], str)
        assert entitlement["amount"].endswith(".00") and entitlement["amount"] != "0.00"

    def test_a_position_beyond_the_ledger_is_refused_by_name(self, service: Service) -> None:
        _, position = self.granted(service)
        ledger_position = service.runtime.ledger.position
        for parameter in ("known_at_position", "wait_for_position"):
            refused = service.client.post(
                "/entitlements/search",
                json={"identity_number": identity_number(BORN, 7)},
                params={parameter: ledger_position + 1},
                headers=service.as_(VI),
            )
            assert refused.status_code == 422, refused.text
            problem = refused.json()
            assert problem["field"] == f"query.{parameter}"
            assert f"the ledger has reached position {ledger_position} only" in problem["detail"]
        reached = service.client.post(
            "/entitlements/search",
            json={"identity_number": identity_number(BORN, 7)},
            params={"as_of": MONTH, "wait_for_position": position},
            headers=service.as_(VI),
        )
        assert reached.status_code == 200 and len(reached.json()["entitlements"]) == 1


def documented_item(document: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = document["components"]["schemas"][name]["properties"]
    return properties


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the calls handed to the read threads."""
    handed: list[str] = []
    hand = ReadThreads.run

    async def recorded(self: ReadThreads, call: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(call.__name__)
        return await hand(self, call, *args, **kwargs)

    monkeypatch.setattr(ReadThreads, "run", recorded)
    return handed


def searched_in_a_thread(service: Service, threaded: list[str], **params: int | str) -> bool:
    """Whether a search, asked with ``params``, read in a worker thread."""
    threaded.clear()
    answer = service.client.post(
        "/entitlements/search",
        json={"identity_number": identity_number(BORN, 7)},
        params={"as_of": MONTH, **params},
        headers=service.as_(VI),
    )
    assert answer.status_code == 200 and len(answer.json()["entitlements"]) == 1
    return threaded == ["_entitlements_of"]


class TestHotReadsOnSQLite(OnSQLite, HotReads):
    def test_only_a_search_that_may_wait_for_a_position_reads_in_a_worker_thread(
        self, service: Service, threaded: list[str]
    ) -> None:
        """The embedded file is read on the event loop, where the hop to a worker thread
        would cost more than the read, however the position is asked for; a search that
        may wait for a position is not."""
        _, position = self.granted(service)
        assert not searched_in_a_thread(service, threaded)
        assert not searched_in_a_thread(service, threaded, known_at="2099-01-01")
        assert searched_in_a_thread(service, threaded, wait_for_position=position)
        assert searched_in_a_thread(service, threaded, known_at_position=position)


class TestHotReadsOnPostgreSQL(OnPostgreSQL, HotReads):
    def test_a_search_reads_in_a_worker_thread_only_when_its_position_is_a_query_or_a_wait(
        self, service: Service, threaded: list[str]
    ) -> None:
        """The search is awaited on the loop, at the position the poller tells; the
        position a moment was known at is a query of the server, done in a thread."""
        _, position = self.granted(service)
        assert not searched_in_a_thread(service, threaded)
        assert searched_in_a_thread(service, threaded, known_at="2099-01-01")
        assert searched_in_a_thread(service, threaded, wait_for_position=position)
        assert searched_in_a_thread(service, threaded, known_at_position=position)

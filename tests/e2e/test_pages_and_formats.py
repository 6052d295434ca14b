"""Long answers come a page at a time, and the pages stay those of the position the first
was drawn at while decisions arrive; rolls, totals and payroll periods also come as CSV,
and an Accept the service cannot give is 406."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest
from httpx2 import Response

from api.core.identities import Role
from api.services.closing import close_period
from domain.months import Month
from tests.e2e.service import Service, running
from tests.support import QIBIN, OnPostgreSQL, OnSQLite, person

VI, CW, FI, AU = Role.VIEWER, Role.CASEWORKER, Role.FINANCE, Role.AUDITOR
ROLL = f"/rolls/disability-living/{QIBIN}"
PERIOD = f"/periods/disability-living/{QIBIN}/2020-01"


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def link_header(answer: Response) -> dict[str, str]:
    """The Link header's targets by relation."""
    return {
        rel: url
        for url, rel in re.findall(r'<([^>]*)>;\s*rel="([a-z]+)"', answer.headers.get("link", ""))
    }


def rows(answer: Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(answer.text)))


class PagesAndFormats:
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
            ledger.set_standard(
                "dibao-urban", QIBIN, "2019-01", {"standard": "600"}, actor="f", reason="n"
            )
            yield service

    def grant(self, service: Service, serial: int) -> UUID:
        return service.runtime.ledger.grant(
            "disability-living",
            QIBIN,
            "2020-01",
            [person(date(1960, 1, 1), serial)],
            grade=1,
            actor="cw-1",
            reason="certificate",
        ).id

    def caught_up(self, service: Service) -> int:
        return service.runtime.read_side.wait_for(service.runtime.ledger.position)

    def follow(self, service: Service, url: str | None, role: Role) -> Response:
        assert url is not None
        answer = service.client.get(url, headers=service.as_(role))
        assert answer.status_code == 200, answer.text
        return answer

    def test_roll_pages_stay_at_the_first_pages_position_while_decisions_arrive(
        self, service: Service
    ) -> None:
        cases = sorted(self.grant(service, n).hex for n in range(5))
        position = self.caught_up(service)
        first = service.get(ROLL, VI, as_of="2020-03", limit=2)
        page = first.json()
        assert (page["position"], page["total"], page["offset"], page["limit"]) == (
            position,
            5,
            0,
            2,
        )
        assert [e["case_id"] for e in page["entries"]] == cases[:2]
        assert page["links"]["prev"] is None
        assert query(page["links"]["next"]) == {
            "as_of": "2020-03",
            "known_at_position": str(position),
            "offset": "2",
            "limit": "2",
        }
        assert link_header(first) == {
            "first": page["links"]["first"],
            "next": page["links"]["next"],
        }
        assert first.headers["ledger-position"] == str(position)

        newcomer = self.grant(service, 9)  # decisions arrive between the pages
        service.runtime.ledger.exit(UUID(cases[3]), "2020-02", actor="cw-1", reason="moved")
        self.caught_up(service)

        seen = [e["case_id"] for e in page["entries"]]
        answer = first
        while (url := answer.json()["links"]["next"]) is not None:
            answer = self.follow(service, url, VI)
            assert answer.json()["position"] == position
            assert link_header(answer)["prev"] == answer.json()["links"]["prev"]
            seen += [e["case_id"] for e in answer.json()["entries"]]
        assert seen == cases
        assert answer.json()["links"]["prev"] is not None
        now = service.get(ROLL, VI, as_of="2020-03").json()
        assert newcomer.hex in [e["case_id"] for e in now["entries"]]
        assert (now["total"], now["limit"]) == (5, 500)  # one came, one left; 500 by default

    def test_a_page_is_at_most_5000_entries(self, service: Service) -> None:
        refused = service.get(ROLL, VI, limit=5001)
        assert refused.status_code == 422
        assert refused.json()["field"] == "query.limit"
        assert service.get(ROLL, VI, limit=5000).status_code == 200

    def test_overdue_reviews_are_paged_at_the_first_pages_position_and_day(
        self, service: Service
    ) -> None:
        reliefs = [
            service.runtime.ledger.grant_relief(
                QIBIN,
                "urban",
                "emergency",
                date(2020, 1, day),
                1,
                "500",
                person(date(1970, 1, day), day),
                actor="cw-1",
                reason="fire",
            ).id
            for day in (1, 2, 3)
        ]
        position = self.caught_up(service)
        first = service.get("/reliefs/overdue-reviews", CW, limit=2)
        page = first.json()
        assert (page["position"], page["total"], len(page["reliefs"])) == (position, 3, 2)
        pinned = query(page["links"]["next"])
        assert pinned["known_at_position"] == str(position)
        assert pinned["today"] == page["today"]
        assert link_header(first)["next"] == page["links"]["next"]
        reviewed = service.post(
            f"/reliefs/{reliefs[2]}/reviews", {"outcome": "confirmed", "reason": "ok"}, CW
        )
        assert reviewed.status_code == 201, reviewed.text
        self.caught_up(service)
        last = self.follow(service, page["links"]["next"], CW).json()
        assert [r["relief_id"] for r in last["reliefs"]] == [reliefs[2].hex]
        assert last["links"]["next"] is None

    def test_payroll_lines_are_paged_and_given_as_csv(self, service: Service) -> None:
        cases = sorted(self.grant(service, n).hex for n in range(3))
        self.caught_up(service)
        ledger = service.runtime.ledger
        close_period(
            ledger,
            service.runtime.views,
            "disability-living",
            QIBIN,
            Month.parse("2020-01"),
            actor="f-1",
        )
        position = self.caught_up(service)
        first = service.get(PERIOD, AU, limit=2)
        page = first.json()
        assert [line["case_id"] for line in page["lines"]] == cases[:2]
        assert (page["line_count"], page["offset"], page["limit"]) == (3, 0, 2)
        assert query(page["links"]["next"])["known_at_position"] == str(position)
        rest = self.follow(service, page["links"]["next"], AU).json()
        assert [line["case_id"] for line in rest["lines"]] == cases[2:]

        as_csv = service.client.get(
            PERIOD, params={"limit": 2}, headers={**service.as_(AU), "Accept": "text/csv"}
        )
        assert as_csv.status_code == 200, as_csv.text
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.headers["ledger-position"] == str(position)
        assert as_csv.headers["content-disposition"] == (
            f'attachment; filename="payroll-disability-living-{QIBIN}-2020-01-at-{position}'
            '-1-to-2.csv"'
        )
        assert link_header(as_csv)["next"] == page["links"]["next"]
        table = rows(as_csv)
        assert table[0] == [
            "case_id",
            "person_reference",
            "amount",
            "arrears",
            "recoveries",
            "total_to_pay",
            "held",
        ]
        assert [(r[0], r[2], r[5]) for r in table[1:]] == [
            (case, "500.00", "500.00") for case in cases[:2]
        ]

    def test_rolls_and_totals_are_given_as_csv_drawn_at_a_position(self, service: Service) -> None:
        cases = sorted(self.grant(service, n).hex for n in range(2))
        position = self.caught_up(service)
        csv_headers = {**service.as_(FI), "Accept": "text/csv"}
        roll = service.client.get(ROLL, params={"as_of": "2020-03"}, headers=csv_headers)
        assert roll.status_code == 200, roll.text
        assert roll.headers["content-type"] == "text/csv; charset=utf-8; header=present"
        assert roll.headers["ledger-position"] == str(position)
        assert roll.headers["content-disposition"] == (
            f'attachment; filename="roll-disability-living-{QIBIN}-2020-03-at-{position}.csv"'
        )
        assert rows(roll) == [
            ["case_id", "amount", "status"],
            *[[case, "500.00", "paying"] for case in cases],
        ]
        totals = service.client.get(
            "/totals",
            params={"as_of": "2020-03", "programme": "disability-living"},
            headers=csv_headers,
        )
        assert totals.status_code == 200, totals.text
        assert totals.headers["ledger-position"] == str(position)
        assert (
            f"totals-2020-03-disability-living-at-{position}.csv"
            in (totals.headers["content-disposition"])
        )
        assert rows(totals) == [
            ["programme", "region", "cases", "entitled", "paid", "settled", "outstanding"],
            ["disability-living", QIBIN, "2", "1000.00", "", "", ""],
        ]

    def test_accept_chooses_json_or_csv_and_anything_else_is_406(self, service: Service) -> None:
        self.grant(service, 1)
        self.caught_up(service)
        close_period(
            service.runtime.ledger,
            service.runtime.views,
            "disability-living",
            QIBIN,
            Month.parse("2020-01"),
            actor="f-1",
        )
        self.caught_up(service)
        chosen = {
            None: "application/json",
            "*/*": "application/json",
            "application/json": "application/json",
            "text/csv;q=0.5, application/json": "application/json",
            "text/*": "text/csv",
            "application/json;q=0, */*;q=0.1": "text/csv",
            "text/csv, application/json": "application/json",
        }
        for path in (ROLL, "/totals", PERIOD):
            for accept, media_type in chosen.items():
                headers = service.as_(FI) | ({"Accept": accept} if accept else {})
                answer = service.client.get(path, headers=headers)
                assert answer.status_code == 200, (path, accept, answer.text)
                assert answer.headers["content-type"].startswith(media_type), (path, accept)
            for accept in ("application/xml", "text/csv;q=0", "image/*"):
                refused = service.client.get(path, headers={**service.as_(FI), "Accept": accept})
                assert refused.status_code == 406, (path, accept, refused.text)
                assert refused.headers["content-type"] == "application/problem+json"
                problem = refused.json()
                assert problem["type"] == "/problems/not-acceptable"
                assert problem["field"] == "header.Accept"

    def test_the_openapi_document_offers_csv_pages_and_their_links(self, service: Service) -> None:
        paths: dict[str, Any] = service.client.get("/openapi.json").json()["paths"]
        for path, paged in (
            ("/rolls/{programme}/{region}", True),
            ("/totals", False),
            ("/periods/{programme}/{region}/{month}", True),
        ):
            operation = paths[path]["get"]
            answer = operation["responses"]["200"]
            assert set(answer["content"]) == {"application/json", "text/csv"}, path
            assert "Ledger-Position" in answer["headers"]
            assert ("Link" in answer["headers"]) is paged
            assert "406" in operation["responses"]
        overdue = paths["/reliefs/overdue-reviews"]["get"]
        assert "Link" in overdue["responses"]["200"]["headers"]
        assert {"offset", "limit"} <= {p["name"] for p in overdue["parameters"]}


class TestPagesAndFormatsOnSQLite(OnSQLite, PagesAndFormats):
    pass


class TestPagesAndFormatsOnPostgreSQL(OnPostgreSQL, PagesAndFormats):
    pass

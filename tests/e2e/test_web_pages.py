"""The pages over HTTP, without a browser: what protects them (the session cookie's flags,
the CSRF token on every form, the Content-Security-Policy), who may reach what, and the
front door at ``/``; and the API's own background verification."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli.charts import year_totals
from api.core.identities import Role
from api.services.verification import Verification, verify
from api.services.verification_jobs import VerificationJobs
from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.people.person import PersonInput
from tests.e2e.service import Service, running
from tests.support import (
    HESHAN,
    QIBIN,
    at,
    grant_reference_household,
    identity_number,
    verified_household,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# A point of a chart: <title>{series} {month}: {amount}</title>
CHART_POINT = re.compile(r"<title>([^<]*) [0-9]{1,2}: ([0-9.]+)</title>")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    with running(request.getfixturevalue(fixture)) as service:
        ledger = service.runtime.ledger
        uow = SaveAt(ledger, at("2019-01-02 09:00"))  # so that history may be added after
        ledger.set_standard(
            "dibao-urban", QIBIN, "2019-01", {"standard": "600"}, actor="f", reason="n", uow=uow
        )
        yield service


def csrf_token(client: TestClient, path: str = "/web/login") -> str:
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def sign_in(
    service: Service, role: Role, user: str | None = None, regions: list[str] | None = None
) -> TestClient:
    client = service.client
    answer = client.post(
        "/web/login",
        data={"csrf_token": csrf_token(client), "token": service.token(role, user, regions)},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/web/"), answer.text
    return client


def relief_awaiting_approval(service: Service) -> str:
    body: dict[str, Any] = {
        "region": QIBIN,
        "area": "urban",
        "kind": "expenditure",
        "relief_date": "2020-05-01",
        "household_size": 1,
        "amount": "9000.00",
        "person": {"identity_number": identity_number(date(1970, 1, 1), 5), "name": "某人"},
        "reason": "medical bills",
    }
    answer = service.post("/reliefs", body, Role.CASEWORKER, "alice")
    assert answer.json()["state"] == "awaiting_approval", answer.text
    relief_id: str = answer.json()["id"]
    return relief_id


def test_the_session_cookie_is_signed_http_only_and_same_site_lax(service: Service) -> None:
    client = service.client
    answer = client.post(
        "/web/login",
        data={"csrf_token": csrf_token(client), "token": service.token(Role.AUDITOR)},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here
    payload, _, signature = cookie.split(";", 1)[0].split("=", 1)[1].rpartition(".")
    forged = ("B" if signature[0] == "A" else "A") + signature[1:]
    client.cookies.clear()
    altered = client.get(
        "/web/", headers={"Cookie": f"ledger_session={payload}.{forged}"}, follow_redirects=False
    )
    assert (altered.status_code, altered.headers["location"]) == (303, "/web/login")


def test_the_session_cookie_is_secure_when_served_over_tls(service: Service) -> None:
    client = TestClient(service.client.app, base_url="https://ledger.example")
    page = client.get("/web/login")
    assert "Secure" in page.headers["set-cookie"]


def test_a_form_without_the_sessions_csrf_token_is_refused_and_records_nothing(
    service: Service,
) -> None:
    relief_id = relief_awaiting_approval(service)
    client = sign_in(service, Role.APPROVER, "bob")
    for sent in ({}, {"csrf_token": "forged"}):
        form = {"reason": "ok", "decision": "approve", **sent}
        answer = client.post(f"/web/approvals/reliefs/{relief_id}", data=form)
        assert answer.status_code == 403
        assert "CSRF token" in answer.text
    assert service.get(f"/reliefs/{relief_id}", Role.AUDITOR).json()["state"] == "awaiting_approval"

    token = csrf_token(client, "/web/approvals")
    answer = client.post(
        f"/web/approvals/reliefs/{relief_id}",
        data={"reason": "ok", "decision": "approve", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert service.get(f"/reliefs/{relief_id}", Role.AUDITOR).json()["state"] == "granted"


def test_signing_in_takes_the_same_tokens_as_the_api_and_refuses_others(
    service: Service,
) -> None:
    client = service.client
    answer = client.post(
        "/web/login", data={"csrf_token": csrf_token(client), "token": "not-a-token"}
    )
    assert answer.status_code == 401
    assert client.get("/web/", follow_redirects=False).headers["location"] == "/web/login"


def test_every_page_forbids_inline_script_and_foreign_assets(service: Service) -> None:
    client = sign_in(service, Role.AUDITOR)
    for path in ("/web/login", "/web/", "/web/rolls", "/web/totals", "/web/verification"):
        policy = client.get(path).headers["content-security-policy"]
        assert "script-src 'self';" in policy, path
        assert "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy, path
    page = client.get("/web/rolls").text
    assert "<script>" not in page
    assert not re.search(r"\s(style|on[a-z]+)=", page)
    for asset in re.findall(r'(?:src|href)="(/web/static/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset


def test_a_viewer_is_refused_the_approvals_pages_and_their_actions(service: Service) -> None:
    relief_id = relief_awaiting_approval(service)
    client = sign_in(service, Role.VIEWER)
    assert client.get("/web/approvals").status_code == 403
    token = csrf_token(client, "/web/rolls")
    answer = client.post(
        f"/web/approvals/reliefs/{relief_id}",
        data={"reason": "ok", "decision": "approve", "csrf_token": token},
    )
    assert answer.status_code == 403
    assert "this needs the role approver" in answer.text
    assert service.get(f"/reliefs/{relief_id}", Role.AUDITOR).json()["state"] == "awaiting_approval"


def test_a_viewer_serving_another_region_is_refused_its_roll(service: Service) -> None:
    client = sign_in(service, Role.VIEWER, "zhou", regions=["410602"])
    answer = client.get(f"/web/rolls?programme=dibao-urban&region={QIBIN}")
    assert answer.status_code == 403
    assert client.get("/web/rolls?programme=dibao-urban&region=410602").status_code == 200


def test_a_browser_at_the_root_is_led_to_the_pages_and_an_api_client_is_not(
    service: Service,
) -> None:
    client = service.client
    browser = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (browser.status_code, browser.headers["location"]) == (303, "/web/")
    api = client.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")


def test_a_verification_runs_in_the_background_and_is_polled_to_its_end(
    service: Service,
) -> None:
    started = service.client.post("/audit/verifications", headers=service.as_(Role.AUDITOR))
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/audit/verifications/{started.json()['id']}"
    deadline = time.monotonic() + 60
    job = started.json()
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = service.get(location, Role.AUDITOR).json()
    assert job["state"] == "finished", job
    assert job["result"]["ok"] is True
    assert job["reached_position"] == job["target_position"] == service.runtime.ledger.position
    assert service.get("/audit/verification", Role.AUDITOR).json()["head"] == job["result"]["head"]
    assert service.get(location, Role.VIEWER).status_code == 403


def test_the_totals_chart_draws_the_figures_ledger_report_draws(service: Service) -> None:
    ledger = service.runtime.ledger
    grant_reference_household(ledger)
    grant_dibao_in_heshan(ledger)  # never closed: March to May are paid here, entitled there
    for month in ("2020-03", "2020-04", "2020-05"):
        closed = service.post(f"/periods/dibao-urban/{QIBIN}/{month}/close", None, Role.FINANCE)
        assert closed.status_code == 201, closed.text
    # A raise from April recorded after May closed: April and May were paid 1200.00 and
    # are entitled to 1350.00 now.
    ledger.set_standard("dibao-urban", QIBIN, "2020-04", {"standard": "650"}, actor="f", reason="n")
    position = service.runtime.read_side.wait_for(ledger.position)
    client = sign_in(service, Role.AUDITOR)
    page = client.get("/web/totals", params={"year": "2020", "known_at_position": position})
    assert page.status_code == 200, page.text

    drawn = [
        Decimal(amount)
        for label, amount in CHART_POINT.findall(page.text)
        if label == "城市最低生活保障"
    ]
    reported = year_totals(service.runtime.views, 2020, position).amounts["dibao-urban"]
    assert drawn[:12] == reported
    # Qibin's paid (March to May) or entitled (June), and Heshan's 500.00 entitled.
    assert reported[2:6] == [Decimal(a) for a in ("1700.00", "1700.00", "1700.00", "1850.00")]


def grant_dibao_in_heshan(ledger: Ledger) -> None:
    """An urban dibao household of one in Heshan from 2020-03, 500.00 a month (standard
    600, income 100). Every dibao grant of this module is made here or by
    ``grant_reference_household``."""
    uow = SaveAt(ledger, at("2020-03-03 10:00"))
    ledger.set_standard(
        "dibao-urban", HESHAN, "2019-01", {"standard": "600"}, actor="f", reason="n", uow=uow
    )
    person = PersonInput(identity_number(date(1975, 5, 5), 9, region=HESHAN), "某乙")
    ledger.grant(
        "dibao-urban",
        HESHAN,
        "2020-03",
        [person],
        income="100",
        verification_id=verified_household(ledger, [person], "100", uow=uow),
        actor="cw",
        reason="assessed",
        uow=uow,
    )


def test_the_pages_speak_english_when_asked(service: Service) -> None:
    client = sign_in(service, Role.AUDITOR)
    assert "救助名册" in client.get("/web/").text
    switched = client.get("/web/language/en", headers={"Referer": "http://testserver/web/rolls"})
    assert switched.url.path == "/web/rolls"
    assert "<h1>Roll" in switched.text and "救助名册" not in switched.text


def test_a_running_verification_shows_its_progress_and_asks_again_until_it_ends(
    service: Service,
) -> None:
    jobs: VerificationJobs = service.client.app.state.verifications  # type: ignore[attr-defined]
    runtime = service.runtime
    halfway, finish = threading.Event(), threading.Event()

    def run(progress: Callable[[int], None]) -> Verification:
        progress(1)
        halfway.set()
        finish.wait(timeout=60)
        return verify(runtime.ledger, runtime.views, runtime.read_side.position)

    job = jobs.start("li.audit", 2, run)
    assert halfway.wait(timeout=10)
    client = sign_in(service, Role.AUDITOR)
    running = client.get("/web/verification", params={"job": str(job.id)})
    assert 'data-state="running"' in running.text
    assert f'hx-get="/web/verification/{job.id}" hx-trigger="every 1s"' in running.text
    assert 'value="50"' in running.text
    again = client.post(
        "/web/verification",
        data={"csrf_token": csrf_token(client, "/web/verification")},
        follow_redirects=False,
    )
    assert again.headers["location"] == f"/web/verification?job={job.id}"  # one at a time

    finish.set()
    deadline = time.monotonic() + 30
    while 'data-state="running"' in (fragment := client.get(f"/web/verification/{job.id}").text):
        assert time.monotonic() < deadline, fragment
        time.sleep(0.05)
    assert 'data-state="finished"' in fragment
    assert "hx-trigger" not in fragment
    assert "核验通过" in fragment


def test_a_long_roll_comes_in_pages_and_as_the_apis_csv(service: Service) -> None:
    ledger = service.runtime.ledger
    uow = SaveAt(ledger, at("2019-01-02 10:00"))
    ledger.set_standard(
        "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n", uow=uow
    )
    for serial in range(55):
        ledger.grant(
            "disability-living",
            QIBIN,
            "2019-04",
            [PersonInput(identity_number(date(1960, 1, 1), serial), "某人")],
            grade=2,
            actor="cw",
            reason="certificate",
            uow=SaveAt(ledger, at("2019-04-01 10:00")),
        )
    position = service.runtime.read_side.wait_for(ledger.position)
    client = sign_in(service, Role.VIEWER)
    query = {"programme": "disability-living", "region": QIBIN, "as_of": "2019-05"}

    first = client.get("/web/rolls", params=query)
    assert first.text.count('href="/web/cases/') == 50
    assert "第 1–50 条，共 55 条" in first.text  # noqa: RUF001
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = client.get("/web/rolls", params={**query, "offset": "50"})
    assert "第 51–55 条，共 55 条" in second.text  # noqa: RUF001
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert second.text.count('href="/web/cases/') == 5

    csv = client.get("/web/rolls.csv", params={**query, "known_at_position": str(position)})
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["ledger-position"] == str(position)
    api = service.client.get(
        f"/rolls/disability-living/{QIBIN}",
        params={"as_of": "2019-05", "known_at_position": position, "limit": 5000},
        headers={**service.as_(Role.VIEWER), "Accept": "text/csv"},
    )
    assert csv.text == api.text
    assert len(csv.text.splitlines()) == 56

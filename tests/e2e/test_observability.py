"""What an operator reads: one access log line per request, never an identity number, and
Prometheus metrics with route templates and the projection's lag."""

from __future__ import annotations

import logging
import re
from datetime import date

import pytest

from api.core.identities import Role
from tests.e2e.service import running
from tests.support import identity_number


def test_access_log_names_request_user_route_status_and_duration_but_no_identity_number(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    number = identity_number(date(1950, 3, 3), 7)
    with running(sqlite_url) as service, caplog.at_level(logging.INFO, "ledger.access"):
        answer = service.client.post(
            "/entitlements/search",
            json={"identity_number": number},
            headers={**service.as_(Role.VIEWER, "li.na"), "X-Request-ID": "trace-42"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-request-id"] == "trace-42"
        refused = service.client.get("/totals", params={"as_of": "2020-01"})
        generated = refused.headers["x-request-id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "ledger.access"]
    assert re.fullmatch(
        r"request_id=trace-42 user=li\.na method=POST route=/entitlements/search "
        r"status=200 duration_ms=\d+\.\d",
        lines[0],
    )
    assert re.fullmatch(
        rf"request_id={generated} user=- method=GET route=/totals status=401 "
        r"duration_ms=\d+\.\d",
        lines[1],
    )
    assert not any(number in line for line in lines)


def test_metrics_count_requests_by_route_template_and_report_the_projection_lag(
    sqlite_url: str,
) -> None:
    with running(sqlite_url) as service:
        case = "00000000-0000-0000-0000-000000000001"
        assert service.get(f"/cases/{case}", Role.AUDITOR).status_code == 404
        answer = service.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert (
        'ledger_http_requests_total{method="GET",route="/cases/{case_id}",status="404"} 1.0' in text
    )
    assert case not in text
    assert 'ledger_http_request_duration_seconds_count{method="GET",route="/cases/{case_id}"}' in (
        text
    )
    for gauge in ("ledger_position", "ledger_views_position", "ledger_projection_lag_events"):
        assert re.search(rf"^{gauge} \d+\.0$", text, re.MULTILINE), gauge

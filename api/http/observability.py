"""What an operator watches: an access log line per request and /metrics for Prometheus.

The access log names the request id (the caller's ``X-Request-ID`` when it sends a sane one,
else a new one, echoed in the response), the user, the method, the route's template, the
status and the duration. It never holds a query string or a body, so an identity number
(which travels only in bodies) cannot reach it. Metrics carry route templates, not paths,
so a case id never becomes a label.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("ledger.access")

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """One registry per app, so that two apps in one process (tests) never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ledger_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "ledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )

    def watch_positions(self, ledger: Callable[[], int], views: Callable[[], int]) -> None:
        """Report the ledger's and the views' positions, read when scraped."""
        self.registry.register(_Positions(ledger, views))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Positions(Collector):
    def __init__(self, ledger: Callable[[], int], views: Callable[[], int]) -> None:
        self.ledger, self.views = ledger, views

    def collect(self) -> Iterator[Metric]:
        try:
            ledger, views = self.ledger(), self.views()
        except Exception:  # the database is unreachable: /ready says so, the scrape goes on
            return
        for name, help_text, value in (
            ("ledger_position", "The ledger's last recorded position.", ledger),
            ("ledger_views_position", "The position the views have reached.", views),
            ("ledger_projection_lag_events", "Events recorded, not yet projected.", ledger - views),
        ):
            yield GaugeMetricFamily(name, help_text, value=value)


class AccessLog:
    """Logs and counts every HTTP request once its answer has started."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            user = scope.get("state", {}).get("user", "-")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.durations.labels(method, route).observe(seconds)
            access_log.info(
                "request_id=%s user=%s method=%s route=%s status=%d duration_ms=%.1f",
                request_id,
                user,
                method,
                route,
                status,
                seconds * 1000,
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Request counts and latencies, the ledger's and views' positions and the projection's
    lag, in the Prometheus text format."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)

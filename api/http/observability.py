"""What an operator watches: an access log line per request and /metrics for Prometheus.

The access log names the request id (the caller's ``X-Request-ID`` when it sends a sane one,
else a new one, echoed in the response), the user, the method, the route's template, the
status and the duration. It never holds a query string or a body, so an identity number
(which travels only in bodies) cannot reach it. Metrics carry route templates, not paths,
so a case id never becomes a label.

A query's answer says which server's views answered it in ``Ledger-Read-From``: ``primary``
or a hot standby's name (``replica-1``; never a host). /metrics counts the queries each
answered, and reports each standby: whether it answers, and how far it is behind the
primary in WAL bytes and ledger positions.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.storage.replicas import ReplicaState

access_log = logging.getLogger("ledger.access")

REQUEST_ID_HEADER = "x-request-id"
READ_FROM_HEADER = "Ledger-Read-From"
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
        self.reads = Counter(
            "ledger_queries_read_from",
            "Queries answered, by whose views answered them: primary or a read replica.",
            ["read_from"],
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

    def watch_replicas(self, states: Callable[[], Sequence[ReplicaState]]) -> None:
        """Report each hot standby read from: up or down, and its lag, read when scraped."""
        self.registry.register(_Replicas(states))

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


class _Replicas(Collector):
    def __init__(self, states: Callable[[], Sequence[ReplicaState]]) -> None:
        self.states = states

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "ledger_replica_up", "Whether a read replica answers (1) or is skipped (0).",
            labels=["replica"],
        )  # fmt: skip
        lag_bytes = GaugeMetricFamily(
            "ledger_replica_lag_bytes",
            "WAL bytes the primary has written that a read replica has not replayed.",
            labels=["replica"],
        )
        lag_positions = GaugeMetricFamily(
            "ledger_replica_lag_positions",
            "Ledger positions the primary's views have reached and a read replica's not.",
            labels=["replica"],
        )
        for state in self.states():
            up.add_metric([state.name], 1 if state.up else 0)
            if state.lag_bytes is not None:
                lag_bytes.add_metric([state.name], state.lag_bytes)
            if state.lag_positions is not None:
                lag_positions.add_metric([state.name], state.lag_positions)
        yield from (up, lag_bytes, lag_positions)


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
                read_from = scope.get("state", {}).get("read_from")
                if read_from is not None:
                    headers.append((READ_FROM_HEADER.lower().encode(), read_from.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            user = scope.get("state", {}).get("user", "-")
            read_from = scope.get("state", {}).get("read_from")
            if read_from is not None:
                self.metrics.reads.labels(read_from).inc()
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
    # 128 random bits as 32 hex digits, as a uuid4's. Unique, not secret: drawn without a
    # system call, which would let a worker thread take the interpreter from the event loop.
    return f"{random.getrandbits(128):032x}"


router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Request counts and latencies, the ledger's and views' positions, the projection's
    lag and each read replica's, in the Prometheus text format."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)

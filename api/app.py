"""The HTTP service: ``uvicorn --factory api.app:create_app`` or ``ledger serve``.

Settings are read when the app starts, not at import. The projections run beside it, in a
poller thread, so queries see new decisions within moments (or wait for a position).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api.core.bootstrap import opened
from api.core.settings import Settings
from api.http import observability, problems, web
from api.http.deps import document_knowledge
from api.http.documentation import DocumentationPolicy
from api.http.formats import json_bodies_only
from api.http.limits import BodySizeLimit
from api.http.observability import AccessLog, Metrics
from api.http.routers import (
    approvals,
    audit,
    cases,
    dci,
    feed,
    health,
    payments,
    periods,
    problem_types,
    reads,
    reliefs,
    reviews,
    standards,
    subscriptions,
    verifications,
)
from api.http.threads import ReadThreads
from api.services.verification_jobs import VerificationJobs

DESCRIPTION = """
An event-sourced ledger of a civil-affairs bureau's cash assistance. Every decision is an
immutable event; every query can be asked for any month (`as_of`) as known at any time
(`known_at`) or ledger position (`known_at_position`).

Authenticate with a bearer token (`ledger token USER ROLE`). Money is a decimal string in
yuan. Identity numbers travel only in request bodies, which are JSON
(`Content-Type: application/json`).

Rolls, overdue reviews and payroll lines come a page at a time (`limit`, default 500, at most
5000; `offset`): follow `links.next` or the `Link` header, which pin the ledger position of
the first page so that the pages stay consistent while decisions arrive. Rolls, totals and
payroll periods are also given as CSV (`Accept: text/csv`); every such answer carries the
position it was drawn at in the `Ledger-Position` header.

Other systems keep up without polling: `GET /events` is the change feed (CloudEvents 1.0,
`id` the ledger position; store `Feed-Next-After` and pass it as `after`), `GET
/events/stream` the same as server-sent events; `POST /subscriptions` delivers it as
Standard Webhooks (signed, at least once, in order; run `ledger deliver`); `/dci/registry`
is the DCI social registry interface (search, subscribe, transaction status).

Errors are `application/problem+json` (RFC 9457). A problem's `field` and `errors` name the
input at fault by where it was sent and its path within: `body.persons[0].identity_number`,
`query.as_of`, `path.case_id`, `header.Idempotency-Key`. Its `type` is one of these (each
served at its URI; `GET /problems` lists them):

"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with opened(settings, project=True) as runtime:
            app.state.runtime = runtime
            metrics.watch_positions(
                lambda: runtime.ledger.position, lambda: runtime.read_side.position
            )
            if runtime.replicas is not None:
                metrics.watch_replicas(runtime.replicas.states)
            app.state.read_threads = ReadThreads()
            try:
                yield
            finally:
                app.state.read_threads.close()
                await runtime.views.close_on_loop()

    app = FastAPIOffline(  # /docs and /redoc with their assets served from the package
        title="Social assistance ledger",
        version="0.1.0",
        description=DESCRIPTION + problems.types_in_markdown(),
        lifespan=lifespan,
        dependencies=[Depends(json_bodies_only)],
    )
    # A request is matched against the routes in the order they are included: the queries
    # other systems send most (entitlement searches, rolls, totals) come first.
    routers = (
        reads.router,
        standards.router,
        cases.router,
        reliefs.router,
        verifications.router,
        verifications.requests_router,
        reviews.router,
        approvals.router,
        periods.router,
        payments.router,
        audit.router,
        feed.router,
        subscriptions.router,
        dci.router,
        health.router,
        observability.router,
        problem_types.router,
    )
    for router in routers:
        app.include_router(router)
    document_knowledge(app, routers)
    problems.install(app)
    web.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(DocumentationPolicy)
    app.add_middleware(AccessLog, metrics=metrics)
    app.state.metrics = metrics
    app.state.verifications = VerificationJobs()
    return app

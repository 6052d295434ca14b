"""The pages: what auditors, approvers and finance read and approve in a browser.

Rendered on the server (Jinja2), with htmx, shipped in the package, for the one thing that
updates in place (a verification's progress); no script is inline and nothing is fetched
from another host, so the pages work on an intranet with no internet, under a
Content-Security-Policy that allows scripts from the service only. ``install`` mounts them
on the service: the routes under ``/web``, their static files, their policy, error pages
for their failures, and ``/`` leading a browser to them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.web import session
from api.http.web.forms import PREFIX
from api.http.web.routes import router
from api.http.web.templating import HERE, render

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", PAGE_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
STATIC = f"{PREFIX}/static"


def install(app: FastAPI) -> None:
    """Mount the pages on ``app``; after ``api.http.problems.install``, whose answers the
    pages' error pages show."""
    app.include_router(router, include_in_schema=False)
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="web-static")
    app.add_api_route("/", _front_door, methods=["GET"], include_in_schema=False)
    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _as_page(handler)
    app.exception_handlers[session.NotSignedInError] = _sign_in_first
    app.add_middleware(PagePolicy)


def _front_door(request: Request) -> Response:
    """A browser asking for ``/`` is led to the pages; any other client gets the 404 it
    always had."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"{PREFIX}/", status_code=303)
    raise StarletteHTTPException(404, "Not Found")


def _on_pages(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(f"{PREFIX}/")


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _as_page(handler: Handler) -> Handler:
    """The API's answer to a failure, shown as a page when it is a page that failed: the
    same status and the same words, so a refusal is explained once."""

    async def handle(request: Request, error: Any) -> Response:
        answer = handler(request, error)
        if not isinstance(answer, Response):
            answer = await answer
        if not _on_pages(request) or not isinstance(answer, JSONResponse):
            return answer
        problem = json.loads(bytes(answer.body))
        user = getattr(request.state, "page_user", None)
        page = render(
            request,
            "error.html",
            {"problem": problem, "user": user},
            status_code=answer.status_code,
        )
        if "retry-after" in answer.headers:
            page.headers["retry-after"] = answer.headers["retry-after"]
        return page

    return handle


def _sign_in_first(request: Request, _: Exception) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": f"{PREFIX}/login"})
    return RedirectResponse(f"{PREFIX}/login", status_code=303)


class PagePolicy:
    """The pages' Content-Security-Policy: scripts and styles from the service only, nothing
    inline, no frame; and no guessing of content types."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
            scope["path"] == "/" or scope["path"].startswith(f"{PREFIX}/")
        ):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *PAGE_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_policy)

"""The API's documentation pages (Swagger UI at /docs, ReDoc at /redoc), served with their
assets from the package by fastapi-offline, since a bureau's intranet has no internet.

Their Content-Security-Policy keeps them on the service: ReDoc would otherwise fetch its
logo from the vendor's CDN, a request an offline intranet cannot answer and a page holding
personal data should not make. The pages' own inline bootstrap scripts are allowed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCUMENTATION_PATHS = ("/docs", "/redoc")
DOCUMENTATION_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; "
    "font-src 'self' data:; frame-ancestors 'none'"
)


class DocumentationPolicy:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCUMENTATION_PATHS:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", [])]
                headers.append((b"content-security-policy", DOCUMENTATION_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)

"""A limit on request bodies, enforced before the body reaches the application.

A declared size (``Content-Length``) over the limit is refused at once. A body of
undeclared size (``Transfer-Encoding: chunked``) is read here, up to the limit, before the
application sees any of it, and refused as soon as it passes the limit: refused inside the
application's own read, it would surface as the framework's "error parsing the body", a 400.
Either way the answer is 413, and at most ``max_bytes`` are ever held in memory (the server
reads and drops the rest of a refused body, so that the client can read the answer).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.problems import REQUEST_TOO_LARGE, problem


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server delivers no more than declared
            return
        read = await self._read(receive)
        if read is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replaying(read, receive), send)

    async def _read(self, receive: Receive) -> list[Message] | None:
        """The messages of a body of undeclared size, or None once it passes the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away: let the application see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            REQUEST_TOO_LARGE, f"request bodies are limited to {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives ``messages`` first, then whatever comes next."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay

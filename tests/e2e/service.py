"""The HTTP service under test, with a token for each user and role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from api.app import create_app
from api.core.bootstrap import Runtime
from api.core.identities import Role, mint_token
from api.core.settings import Settings


@dataclass
class Service:
    client: TestClient
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        return runtime

    def token(self, role: Role, user: str | None = None) -> str:
        secret = self.settings.jwt_secret
        if secret is None:
            raise ValueError("no signing key")
        return mint_token(secret.get_secret_value(), user or f"{role.value}-1", role, 60)

    def as_(self, role: Role, user: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, user)}"}

    def post(
        self, path: str, body: Any, role: Role, user: str | None = None, **headers: str
    ) -> Response:
        return self.client.post(path, json=body, headers={**self.as_(role, user), **headers})

    def get(self, path: str, role: Role, **params: Any) -> Response:
        return self.client.get(path, params=params, headers=self.as_(role))


@contextmanager
def running(database_url: str) -> Iterator[Service]:
    settings = Settings(database_url=database_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Service(client, settings)

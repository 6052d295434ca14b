"""The HTTP service under test, with a token for each user and role."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from api.app import create_app
from api.core.bootstrap import Runtime
from api.core.identities import CITY_WIDE_ROLES, Role, mint_token
from api.core.settings import Settings


@dataclass
class Service:
    client: TestClient
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        return runtime

    def token(
        self, role: Role, user: str | None = None, regions: Collection[str] | None = None
    ) -> str:
        """A token of the service's own; ``regions`` by default every region of the
        catalogue for caseworkers, approvers and viewers, the whole city for the others."""
        secret = self.settings.jwt_secret
        if secret is None:
            raise ValueError("no signing key")
        if regions is None and role not in CITY_WIDE_ROLES:
            regions = self.runtime.ledger.regions.names
        name = user or f"{role.value}-1"
        return mint_token(secret.get_secret_value(), name, role, 60, regions=regions)

    def as_(
        self, role: Role, user: str | None = None, regions: Collection[str] | None = None
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, user, regions)}"}

    def post(
        self, path: str, body: Any, role: Role, user: str | None = None, **headers: str
    ) -> Response:
        return self.client.post(path, json=body, headers={**self.as_(role, user), **headers})

    def get(self, path: str, role: Role, **params: Any) -> Response:
        return self.client.get(path, params=params, headers=self.as_(role))


@contextmanager
def running(database_url: str, **settings_given: Any) -> Iterator[Service]:
    settings = Settings(database_url=database_url, **settings_given)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Service(client, settings)

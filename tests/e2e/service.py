"""The HTTP service under test, with a token for each user and role."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient
from httpx2 import Response

from api.app import create_app
from api.core.bootstrap import Runtime
from api.core.identities import CITY_WIDE_ROLES, Role, mint_token
from api.core.settings import Settings
from domain.months import BUREAU_TIME_ZONE


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

    def verified(
        self,
        persons: Sequence[Mapping[str, Any]],
        income: str = "200",
        *,
        made_on: date | None = None,
        case_id: str | None = None,
    ) -> str:
        """The id of a verification, made today (or ``made_on``) by the city's platform, of
        the household of ``persons`` (identity numbers), each member's verified monthly
        income ``income``: a per-capita income of ``income``."""
        answer = self.post(
            "/verifications",
            {
                "members": [
                    {"identity_number": p["identity_number"], "income": income} for p in persons
                ],
                "case_id": case_id,
                "sources": ["wages", "pensions", "real-estate"],
                "made_on": (made_on or datetime.now(BUREAU_TIME_ZONE).date()).isoformat(),
                "level": "city",
                "report_id": f"HB-{uuid4().hex[:12]}",
            },
            Role.CASEWORKER,
        )
        assert answer.status_code == 201, answer.text
        verification: str = answer.json()["id"]
        return verification


@contextmanager
def running(database_url: str, **settings_given: Any) -> Iterator[Service]:
    settings = Settings(database_url=database_url, **settings_given)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Service(client, settings)

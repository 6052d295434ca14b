"""Signing in to the pages through the OpenID Connect provider, as with a bureau's Keycloak:
the browser is sent to the provider with a state and a PKCE challenge, comes back with a
code, and the ledger exchanges the code (with its verifier) for the provider's access
token, which it reads as it reads any of the provider's tokens. The provider's token and
keys endpoints are served over real HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api.core.settings import Settings
from tests.e2e.service import Service, running
from tests.e2e.test_openid_connect import AUDIENCE, Provider, jwks

CLIENT_ID = "ledger-pages"
REALM = "/realms/hebi"


class FakeProvider(ThreadingHTTPServer):
    """Keys and tokens of a provider; a code is handed out for a challenge by ``authorize``,
    as the provider does once the person has signed in on its own page."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProviderHandler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}{REALM}"
        self.provider = Provider(self.base, f"{self.base}/protocol/openid-connect/certs")
        self.codes: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self.exchanged: list[dict[str, str]] = []

    def authorize(self, code: str, challenge: str, redirect_uri: str, **claims: Any) -> None:
        self.codes[code] = (challenge, redirect_uri, claims)


class ProviderHandler(BaseHTTPRequestHandler):
    server: FakeProvider

    def do_GET(self) -> None:
        if self.path != f"{REALM}/protocol/openid-connect/certs":
            self.send_error(404)
            return
        self._answer(200, jwks())

    def do_POST(self) -> None:
        if self.path != f"{REALM}/protocol/openid-connect/token":
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.exchanged.append(form)
        challenge, redirect_uri, claims = self.server.codes.pop(form.get("code", ""), ("", "", {}))
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if (
            not challenge
            or digest.decode().rstrip("=") != challenge
            or form.get("client_id") != CLIENT_ID
            or form.get("redirect_uri") != redirect_uri
            or form.get("grant_type") != "authorization_code"
        ):
            self._answer(400, b'{"error": "invalid_grant"}')
            return
        token = self.server.provider.token(**claims)
        self._answer(200, json.dumps({"access_token": token, "token_type": "Bearer"}).encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    server = FakeProvider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def service(sqlite_url: str, provider: FakeProvider) -> Iterator[Service]:
    with running(
        sqlite_url,
        oidc_issuer=provider.base,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=provider.provider.jwks_url,
        oidc_authorization_url=f"{provider.base}/protocol/openid-connect/auth",
        oidc_token_url=f"{provider.base}/protocol/openid-connect/token",
        oidc_client_id=CLIENT_ID,
    ) as service:
        yield service


def sent_to_provider(service: Service, provider: FakeProvider) -> dict[str, str]:
    login = service.client.get("/web/login")
    assert 'href="/web/login/provider"' in login.text
    answer = service.client.get("/web/login/provider", follow_redirects=False)
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == (
        f"{provider.base}/protocol/openid-connect/auth"
    )
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert (query["response_type"], query["client_id"], query["code_challenge_method"]) == (
        "code",
        CLIENT_ID,
        "S256",
    )
    assert query["redirect_uri"] == "http://testserver/web/login/provider/return"
    return query


def test_a_person_signs_in_at_the_provider_and_acts_in_the_role_it_gives(
    service: Service, provider: FakeProvider
) -> None:
    sent = sent_to_provider(service, provider)
    provider.authorize(
        "code-1",
        sent["code_challenge"],
        sent["redirect_uri"],
        realm_access={"roles": ["approver"]},
        preferred_username="zhang.approver",
    )
    back = service.client.get(
        "/web/login/provider/return",
        params={"code": "code-1", "state": sent["state"]},
        follow_redirects=False,
    )
    assert (back.status_code, back.headers["location"]) == (303, "/web/"), back.text
    home = service.client.get("/web/")
    assert "zhang.approver" in home.text and "审批员" in home.text
    assert service.client.get("/web/approvals").status_code == 200
    assert "client_secret" not in provider.exchanged[-1]


def test_an_answer_to_a_sign_in_begun_elsewhere_is_refused(
    service: Service, provider: FakeProvider
) -> None:
    sent = sent_to_provider(service, provider)
    provider.authorize("code-2", sent["code_challenge"], sent["redirect_uri"])
    forged = service.client.get(
        "/web/login/provider/return", params={"code": "code-2", "state": "another"}
    )
    assert forged.status_code == 403
    assert "not begun from this browser" in forged.text
    assert service.client.get("/web/", follow_redirects=False).headers["location"] == "/web/login"


def test_a_code_the_provider_does_not_honour_signs_no_one_in(
    service: Service, provider: FakeProvider
) -> None:
    sent = sent_to_provider(service, provider)
    answer = service.client.get(
        "/web/login/provider/return", params={"code": "never-given", "state": sent["state"]}
    )
    assert answer.status_code == 401
    assert "refused the sign-in (400)" in answer.text
    assert service.client.get("/web/", follow_redirects=False).headers["location"] == "/web/login"


def test_a_partial_provider_sign_in_is_refused_at_start(
    sqlite_url: str, provider: FakeProvider
) -> None:
    with pytest.raises(ValueError, match="LEDGER_OIDC_TOKEN_URL"):
        Settings(
            database_url=sqlite_url,
            oidc_issuer=provider.base,
            oidc_audience=AUDIENCE,
            oidc_jwks_url=provider.provider.jwks_url,
            oidc_authorization_url=f"{provider.base}/protocol/openid-connect/auth",
            oidc_client_id=CLIENT_ID,
        )
    with pytest.raises(ValueError, match="needs the provider"):
        Settings(database_url=sqlite_url, oidc_client_id=CLIENT_ID)

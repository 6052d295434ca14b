"""Tokens of an OpenID Connect provider (as a bureau's Keycloak issues them) are accepted when
signed RS256 or ES256 by a key of its JWKS, for its issuer and the ledger's audience; any other
token is refused. The JWKS is served over real HTTP on loopback, as a provider serves it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from httpx2 import Response
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.processes import free_port
from tests.support import QIBIN, identity_number

QI = "410622"
AUDIENCE = "social-assistance-ledger"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> bytes:
    keys = [
        {**json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), "kid": "rsa", "alg": "RS256"},
        {**json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key())), "kid": "ec", "alg": "ES256"},
    ]
    for key in keys:
        key["use"] = "sig"
    return json.dumps({"keys": keys}).encode()


class JwksHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/realms/hebi/protocol/openid-connect/certs":
            self.send_error(404)
            return
        body = jwks()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@dataclass(frozen=True)
class Provider:
    issuer: str
    jwks_url: str

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "f3b0c1de-0000-4000-8000-000000000001",
            "preferred_username": "wang.fang",
            "realm_access": {"roles": ["offline_access", "caseworker", "uma_authorization"]},
            "regions": [QIBIN],
            "iat": now,
            "exp": now + timedelta(minutes=5),
            **changes,
        }

    def token(self, algorithm: str = "RS256", key: Any = None, **changes: Any) -> str:
        signer = key or (RSA_KEY if algorithm == "RS256" else EC_KEY)
        kid = "rsa" if algorithm == "RS256" else "ec"
        return jwt.encode(self.claims(**changes), signer, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/realms/hebi"
    try:
        yield Provider(base, f"{base}/protocol/openid-connect/certs")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def service(sqlite_url: str, provider: Provider) -> Iterator[Service]:
    with running(
        sqlite_url,
        oidc_issuer=provider.issuer,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=provider.jwks_url,
    ) as service:
        service.runtime.ledger.set_standard(
            "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
        )
        service.runtime.ledger.set_standard(
            "disability-living", QI, "2019-01", {"standard": "500"}, actor="f", reason="n"
        )
        yield service


def grant(service: Service, token: str, region: str = QIBIN, serial: int = 1) -> Response:
    body = {
        "programme": "disability-living",
        "region": region,
        "effective": "2020-01",
        "grade": 1,
        "persons": [{"identity_number": identity_number(date(1960, 1, 1), serial), "name": "甲"}],
        "reason": "certificate",
    }
    return service.client.post("/cases", json=body, headers={"Authorization": f"Bearer {token}"})


def unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = None) -> str:
    def part(value: dict[str, Any]) -> str:
        text = json.dumps(value, default=lambda d: int(d.timestamp())).encode()
        return base64.urlsafe_b64encode(text).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    if key is None:
        return f"{signing_input}."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_tokens_signed_rs256_and_es256_by_the_provider_are_accepted(
    service: Service, provider: Provider
) -> None:
    assert grant(service, provider.token("RS256"), serial=1).status_code == 201
    assert grant(service, provider.token("ES256"), serial=2).status_code == 201
    answer = service.client.get(
        "/audit/verification",
        headers={"Authorization": f"Bearer {provider.token(realm_access={'roles': ['auditor']})}"},
    )
    assert answer.status_code == 200, answer.text


def test_the_provider_names_the_user_and_their_regions(
    service: Service, provider: Provider
) -> None:
    assert grant(service, provider.token(), region=QI, serial=3).status_code == 403
    answer = grant(service, provider.token(regions=[QIBIN, QI]), region=QI, serial=3)
    assert answer.status_code == 201, answer.text
    case = service.runtime.ledger.case(UUID(answer.json()["id"]))
    assert case.region == QI
    events = service.runtime.ledger.events.get(case.id)
    assert [getattr(event, "actor", None) for event in events] == ["wang.fang"]


def test_the_ledger_s_own_tokens_still_work_beside_the_provider_s(service: Service) -> None:
    assert grant(service, service.token(Role.CASEWORKER), serial=4).status_code == 201


def test_tokens_the_provider_did_not_sign_for_the_ledger_are_refused(
    service: Service, provider: Provider
) -> None:
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = provider.claims()
    refused = {
        "signed by another key": provider.token(key=OTHER_RSA_KEY),
        "another issuer": provider.token(iss="http://127.0.0.1:1/realms/other"),
        "another audience": provider.token(aud="another-service"),
        "expired": provider.token(
            iat=datetime.now(UTC) - timedelta(hours=2), exp=datetime.now(UTC) - timedelta(hours=1)
        ),
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": "rsa"}, claims),
        "HS256 with the public key as secret": unsigned(
            {"alg": "HS256", "typ": "JWT", "kid": "rsa"}, claims, public_pem
        ),
        "no ledger role": provider.token(realm_access={"roles": ["offline_access"]}),
    }
    position = service.runtime.ledger.position
    outcomes = {name: grant(service, t, serial=5).status_code for name, t in refused.items()}
    assert outcomes == dict.fromkeys(refused, 401)
    assert service.runtime.ledger.position == position


def test_an_unreachable_provider_is_a_503_not_a_refusal(
    sqlite_url: str, provider: Provider
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/certs"
    with running(
        sqlite_url, oidc_issuer=provider.issuer, oidc_audience=AUDIENCE, oidc_jwks_url=dead
    ) as service:
        answer = service.client.get(
            "/totals", headers={"Authorization": f"Bearer {provider.token()}"}
        )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]

"""Bearer tokens are verified once and remembered only until they expire; they name the
regions their user serves."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from api.core.identities import (
    InvalidTokenError,
    Role,
    TokenReader,
    User,
    mint_token,
    regions_of,
)
from api.core.settings import Settings

SECRET = "a signing key for the tests, more than 32 bytes long"
QIBIN = "410611"


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    reader = TokenReader(SECRET)
    # Expires at the next whole second but one: exp is stored in whole seconds.
    expires = int(time.time()) + 2
    token = mint_token(
        SECRET,
        "ann",
        Role.VIEWER,
        1,
        now=datetime.fromtimestamp(expires, UTC) - timedelta(minutes=1),
        regions=[QIBIN],
    )
    assert reader.read(token) == User("ann", Role.VIEWER, frozenset({QIBIN}))
    assert reader.read(token) == User("ann", Role.VIEWER, frozenset({QIBIN}))
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(InvalidTokenError):
        reader.read(token)


def test_a_token_of_another_key_is_refused_every_time() -> None:
    reader = TokenReader(SECRET)
    token = mint_token("another key, also more than 32 bytes long", "ann", Role.AUDITOR, 5)
    for _ in range(2):
        with pytest.raises(InvalidTokenError):
            reader.read(token)


def test_an_altered_token_is_refused_after_the_genuine_one_was_read() -> None:
    reader = TokenReader(SECRET)
    token = mint_token(SECRET, "ann", Role.VIEWER, 5, regions=[QIBIN])
    reader.read(token)
    head, claims, signature = token.split(".")
    altered = f"{head}.{claims}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(InvalidTokenError):
        reader.read(altered)


def test_the_cache_stays_within_its_capacity() -> None:
    reader = TokenReader(SECRET, capacity=3)
    users = [f"user{n}" for n in range(7)]
    for user in users:
        assert reader.read(mint_token(SECRET, user, Role.AUDITOR, 5)).name == user
    assert len(reader._verified) <= 3


def test_a_regional_role_needs_its_regions_and_a_city_wide_one_may_have_them() -> None:
    with pytest.raises(ValueError, match="serves named regions"):
        mint_token(SECRET, "ann", Role.CASEWORKER, 5)
    reader = TokenReader(SECRET)
    assert reader.read(mint_token(SECRET, "zoe", Role.FINANCE, 5)).regions is None
    limited = reader.read(mint_token(SECRET, "zoe", Role.FINANCE, 5, regions=[QIBIN]))
    assert limited.serves(QIBIN)
    assert not limited.serves("410622")


@pytest.mark.parametrize(
    ("role", "claim", "regions"),
    [
        (Role.CASEWORKER, ["410611", "410622"], frozenset({"410611", "410622"})),
        (Role.CASEWORKER, "410611,410622", frozenset({"410611", "410622"})),
        (Role.CASEWORKER, None, frozenset()),
        (Role.VIEWER, "*", frozenset()),
        (Role.AUDITOR, None, None),
        (Role.FINANCE, ["*"], None),
    ],
)
def test_the_regions_claim_reads_as_the_regions_served(
    role: Role, claim: object, regions: frozenset[str] | None
) -> None:
    assert regions_of(role, claim) == regions


@pytest.mark.parametrize("claim", [["4106"], [410611], {"410611": True}])
def test_a_malformed_regions_claim_is_an_invalid_token(claim: object) -> None:
    with pytest.raises(InvalidTokenError):
        regions_of(Role.CASEWORKER, claim)


def production_with_provider(jwks_url: str) -> Settings:
    return Settings(
        environment="production",
        database_url="memory:",
        personal_data_key="a" * 44,
        person_ref_key="b" * 44,
        signing_key="c" * 44,
        oidc_issuer="https://sso.example/realms/hebi",
        oidc_audience="ledger",
        oidc_jwks_url=jwks_url,
    )


def test_outside_development_the_provider_s_keys_come_over_https() -> None:
    with pytest.raises(ValidationError, match="https"):
        production_with_provider("http://sso.example/certs")
    settings = production_with_provider("https://sso.example/certs")
    assert settings.jwt_secret is None  # the provider signs; the ledger mints no tokens
    with pytest.raises(ValidationError, match="LEDGER_OIDC_JWKS_URL"):
        Settings(database_url="memory:", oidc_issuer="https://sso.example/realms/hebi")

"""Bearer tokens are verified once and remembered only until they expire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from api.core.identities import InvalidTokenError, Role, TokenReader, User, mint_token

SECRET = "a signing key for the tests, more than 32 bytes long"


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
    )
    assert reader.read(token) == User("ann", Role.VIEWER)
    assert reader.read(token) == User("ann", Role.VIEWER)
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
    token = mint_token(SECRET, "ann", Role.VIEWER, 5)
    reader.read(token)
    head, claims, signature = token.split(".")
    altered = f"{head}.{claims}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(InvalidTokenError):
        reader.read(altered)


def test_the_cache_stays_within_its_capacity() -> None:
    reader = TokenReader(SECRET, capacity=3)
    users = [f"user{n}" for n in range(7)]
    for user in users:
        assert reader.read(mint_token(SECRET, user, Role.VIEWER, 5)).name == user
    assert len(reader._verified) <= 3

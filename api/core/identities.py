"""Bearer tokens (JWT, HS256) naming a user and the role they act in."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt

ISSUER = "social-assistance-ledger"
ALGORITHM = "HS256"


class Role(StrEnum):
    CASEWORKER = "caseworker"  # decisions on cases and relief
    APPROVER = "approver"  # second approvals
    FINANCE = "finance"  # standards and closing periods
    AUDITOR = "auditor"  # reads everything, verifies; no writes
    VIEWER = "viewer"  # entitlement and roll queries


@dataclass(frozen=True)
class User:
    name: str
    role: Role


class InvalidTokenError(Exception):
    """The bearer token is missing, expired, unsigned or altered."""


def mint_token(
    secret: str, user: str, role: Role, minutes: int, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": user,
        "role": role.value,
        "iat": issued,
        "exp": issued + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


class TokenReader:
    """Verifies bearer tokens, and remembers the verified ones until they expire.

    A client sends the same token with every request; verifying it again would cost about
    as much as the lookup it guards. The cache is bounded and holds tokens signed with this
    reader's key only.
    """

    def __init__(self, secret: str, capacity: int = 10_000) -> None:
        self._secret = secret
        self._capacity = capacity
        self._verified: dict[str, tuple[User, float]] = {}

    def read(self, token: str) -> User:
        remembered = self._verified.get(token)
        if remembered is not None:
            user, expires = remembered
            if time.time() < expires:
                return user
            del self._verified[token]
        user, expires = self._verify(token)
        if len(self._verified) >= self._capacity:
            self._verified.clear()
        self._verified[token] = (user, expires)
        return user

    def _verify(self, token: str) -> tuple[User, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
            return User(str(claims["sub"]), Role(claims["role"])), float(claims["exp"])
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            raise InvalidTokenError(str(error)) from None

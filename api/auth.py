"""Bearer tokens (JWT, HS256) naming a user and the role they act in."""

from __future__ import annotations

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


def read_token(secret: str, token: str) -> User:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "sub"]},
        )
        return User(str(claims["sub"]), Role(claims["role"]))
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise InvalidTokenError(str(error)) from None

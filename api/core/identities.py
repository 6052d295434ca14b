"""Who the caller is, the role they act in, the regions they serve, and who may act where.

A bearer token (JWT) names a user, one role and the regions the user serves (six-digit
codes). Caseworkers, approvers and viewers act in the regions their token names and nowhere
else; auditors and finance may serve the whole city (their token names no regions, or
``*``) or some regions. The rule is here, beside the tokens, so that every entry point that
answers a user (the HTTP API, the pages) applies the same one.

Two issuers are accepted:
- the ledger itself (HS256 with the shared secret ``LEDGER_JWT_SECRET``; ``ledger token``),
  for development and for an installation without an identity provider;
- an OpenID Connect provider such as a bureau's Keycloak (RS256 or ES256, keys from its
  JWKS), when ``LEDGER_OIDC_ISSUER``, ``LEDGER_OIDC_AUDIENCE`` and ``LEDGER_OIDC_JWKS_URL``
  are set; the user, role and regions are read from claims the settings name.
A token is verified with the keys of the issuer it names, and only with the algorithms of
that issuer, so a token signed with a provider's public key as an HMAC secret, or unsigned,
is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import jwt

ISSUER = "social-assistance-ledger"
ALGORITHM = "HS256"
OIDC_ALGORITHMS = ("RS256", "ES256")
CITY_WIDE = "*"
_REGION = re.compile(r"^[0-9]{6}$")


class Role(StrEnum):
    CASEWORKER = "caseworker"  # decisions on cases and relief
    APPROVER = "approver"  # second approvals
    FINANCE = "finance"  # standards and closing periods
    AUDITOR = "auditor"  # reads everything, verifies; no writes
    VIEWER = "viewer"  # entitlement and roll queries


CITY_WIDE_ROLES = frozenset({Role.AUDITOR, Role.FINANCE})
_ROLE_NAMES = frozenset(role.value for role in Role)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    regions: frozenset[str] | None = None  # None: the whole city

    def serves(self, region: str) -> bool:
        return self.regions is None or region in self.regions

    def describe_regions(self) -> str:
        if self.regions is None:
            return "the whole city"
        return ", ".join(sorted(self.regions)) or "no region"


class InvalidTokenError(Exception):
    """The bearer token is missing, expired, unsigned, altered, or of an unknown issuer."""


class TokenKeysUnavailableError(Exception):
    """The identity provider's keys (its JWKS) cannot be fetched just now."""


class OutsideRegionsError(Exception):
    """The user would act in a region they do not serve."""


def check_region(user: User, region: str) -> None:
    """Refuse ``user`` acting in ``region`` (deciding, or reading what is there) unless they
    serve it."""
    if user.serves(region):
        return
    if not user.regions:
        raise OutsideRegionsError(
            f"a {user.role}'s token names the regions they serve, and this one names none: "
            "ask for a token with your regions"
        )
    raise OutsideRegionsError(
        f"{region} is outside the regions you serve as {user.role} ({user.describe_regions()})"
    )


def regions_of(role: Role, value: object) -> frozenset[str] | None:
    """The regions a token's claim names: a list of codes (or one code, or codes separated
    by commas or spaces); absent or ``*``, the whole city for the roles that may serve it and
    none for the others."""
    if value is None or value in (CITY_WIDE, [CITY_WIDE]):
        return None if role in CITY_WIDE_ROLES else frozenset()
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise InvalidTokenError("the regions claim is a list of six-digit region codes")
    bad = [code for code in value if not _REGION.match(code)]
    if bad:
        raise InvalidTokenError("the regions claim holds a code that is not six digits")
    return frozenset(value)


def mint_token(
    secret: str,
    user: str,
    role: Role,
    minutes: int,
    now: datetime | None = None,
    *,
    regions: Collection[str] | None = None,
) -> str:
    """A token of the ledger's own for ``user`` acting as ``role`` in ``regions`` (None: the
    whole city, for auditors and finance only)."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": user,
        "role": role.value,
        "iat": issued,
        "exp": issued + timedelta(minutes=minutes),
    }
    if regions is None:
        if role not in CITY_WIDE_ROLES:
            raise ValueError(f"a {role} serves named regions: give them")
    else:
        codes = sorted(set(regions))
        if not codes or not all(_REGION.match(code) for code in codes):
            raise ValueError("regions are six-digit codes, at least one")
        claims["regions"] = codes
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class OidcProvider:
    """An OpenID Connect provider whose access tokens the ledger accepts. The claims are
    dotted paths into the token (Keycloak puts realm roles in ``realm_access.roles``)."""

    issuer: str
    audience: str
    jwks_url: str
    user_claim: str = "preferred_username"
    role_claim: str = "realm_access.roles"
    regions_claim: str = "regions"
    timeout_seconds: float = 5


@dataclass(frozen=True)
class OidcSignIn:
    """The provider's endpoints a person signs in through (the authorization code flow with
    PKCE, RFC 7636), and the ledger's client there."""

    authorization_url: str
    token_url: str
    client_id: str
    client_secret: str | None = None
    timeout_seconds: float = 5

    def redirect(self, redirect_uri: str, state: str, verifier: str) -> str:
        """Where to send the person's browser to sign in."""
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid",
                "state": state,
                "code_challenge": challenge.decode().rstrip("="),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in self.authorization_url else "?"
        return f"{self.authorization_url}{separator}{query}"

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        """The access token the provider gives for the code it sent the browser back with;
        InvalidTokenError when it gives none, TokenKeysUnavailableError when it cannot be
        reached. The token is then read as any other of the provider's."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        if self.client_secret is not None:
            form["client_secret"] = self.client_secret
        request = urllib.request.Request(
            self.token_url,
            data=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            error.close()  # its body is not read: the status says enough
            raise InvalidTokenError(
                f"the identity provider refused the sign-in ({error.code})"
            ) from None
        except (OSError, ValueError):
            raise TokenKeysUnavailableError(
                "the identity provider cannot be reached; retry shortly"
            ) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidTokenError("the identity provider gave no access token")
        return token


class _OidcVerifier:
    def __init__(self, provider: OidcProvider) -> None:
        self.provider = provider
        self._keys = jwt.PyJWKClient(provider.jwks_url, timeout=provider.timeout_seconds)

    def verify(self, token: str) -> tuple[User, float]:
        provider = self.provider
        try:
            key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise TokenKeysUnavailableError(
                "the identity provider's keys cannot be fetched; retry shortly"
            ) from None
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(OIDC_ALGORITHMS),
                audience=provider.audience,
                issuer=provider.issuer,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from None
        name = _claim(claims, provider.user_claim) or claims["sub"]
        roles = _claim(claims, provider.role_claim)
        roles = [roles] if isinstance(roles, str) else roles
        ours = {Role(r) for r in roles or [] if isinstance(r, str) and r in _ROLE_NAMES}
        if len(ours) != 1:
            raise InvalidTokenError(
                f"the token names {len(ours)} of the ledger's roles in {provider.role_claim}; "
                "it must name one"
            )
        role = ours.pop()
        regions = regions_of(role, _claim(claims, provider.regions_claim))
        return User(str(name), role, regions), float(claims["exp"])


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class TokenReader:
    """Verifies bearer tokens, and remembers the verified ones until they expire.

    A client sends the same token with every request; verifying it again would cost about
    as much as the lookup it guards. The cache is bounded and holds verified tokens only.
    """

    def __init__(
        self, secret: str | None, oidc: OidcProvider | None = None, capacity: int = 10_000
    ) -> None:
        self._secret = secret
        self._oidc = _OidcVerifier(oidc) if oidc is not None else None
        self._capacity = capacity
        self._verified: dict[str, tuple[User, float]] = {}

    def recall(self, token: str) -> User | None:
        """The user of a token verified before and not yet expired; None otherwise."""
        remembered = self._verified.get(token)
        if remembered is None:
            return None
        user, expires = remembered
        if time.time() < expires:
            return user
        self._verified.pop(token, None)
        return None

    def read(self, token: str) -> User:
        """The token's user; may fetch the identity provider's keys (blocking)."""
        user = self.recall(token)
        if user is not None:
            return user
        user, expires = self._verify(token)
        if len(self._verified) >= self._capacity:
            self._verified.clear()
        self._verified[token] = (user, expires)
        return user

    def _verify(self, token: str) -> tuple[User, float]:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from None
        if issuer == ISSUER and self._secret is not None:
            return self._verify_own(token, self._secret)
        if self._oidc is not None and issuer == self._oidc.provider.issuer:
            return self._oidc.verify(token)
        raise InvalidTokenError("the token's issuer is not one this ledger accepts")

    @staticmethod
    def _verify_own(token: str, secret: str) -> tuple[User, float]:
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
            role = Role(claims["role"])
            user = User(str(claims["sub"]), role, regions_of(role, claims.get("regions")))
            return user, float(claims["exp"])
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            raise InvalidTokenError(str(error)) from None

"""The pages' session: a signed cookie holding the caller's token and a CSRF token.

A person signs in by pasting the same token the API takes (``ledger token``, or one of the
OpenID Connect provider); every page reads the token back from the cookie and has it read
by the same ``TokenReader`` and checked by the same role and region rules as a bearer
token (``api.http.deps.allowed``), so the pages can never grant more than the API. The token
keeps its own expiry; the cookie cannot outlive it.

A person may instead sign in through the OpenID Connect provider (the authorization code
flow with PKCE): the session then keeps the request's state and verifier until the provider
sends the browser back, and takes the access token the provider gives for the code.

The cookie is signed (itsdangerous, with a key derived from the personal-data key, which
every installation has), HttpOnly, SameSite=Lax (so that it comes back with the browser
from the provider's sign-in; nothing is changed by a GET but the language), and Secure when
the page is served over TLS. Each session carries a random CSRF token, given to every form
as a hidden field and compared on every POST (the synchroniser pattern): a page of another
site can make the browser send the cookie, but cannot read the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.core.bootstrap import Runtime
from api.core.identities import InvalidTokenError, TokenKeysUnavailableError, User
from api.http.deps import get_runtime

COOKIE = "ledger_session"
CSRF_FIELD = "csrf_token"
MAX_AGE_SECONDS = 12 * 3600
_SALT = "ledger pages session"


class NotSignedInError(Exception):
    """The page needs a signed-in user, and there is none (or their token has expired)."""


@dataclass
class Session:
    csrf: str
    token: str | None = None
    language: str | None = None
    signing_in: dict[str, str] | None = None  # state and verifier, while at the provider
    changed: bool = False

    def as_cookie(self) -> dict[str, Any]:
        return {
            "csrf": self.csrf,
            "token": self.token,
            "language": self.language,
            "signing_in": self.signing_in,
        }


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    key = runtime.settings.personal_data_key
    if key is None:
        raise ValueError("settings were built without keys")
    derived = hmac.new(key.get_secret_value().encode(), _SALT.encode(), hashlib.sha256).digest()
    return URLSafeTimedSerializer(derived, salt=_SALT)


def session_of(request: Request) -> Session:
    """The request's session, read once: from its cookie, or a new one."""
    found: Session | None = getattr(request.state, "session", None)
    if found is not None:
        return found
    runtime: Runtime = request.app.state.runtime
    text = request.cookies.get(COOKIE)
    session = None
    if text:
        try:
            data = _serializer(runtime).loads(text, max_age=MAX_AGE_SECONDS)
            session = Session(
                str(data["csrf"]), data.get("token"), data.get("language"), data.get("signing_in")
            )
        except (BadSignature, KeyError, TypeError):
            session = None
    if session is None:
        session = Session(secrets.token_urlsafe(32), changed=True)
    request.state.session = session
    return session


def keep(request: Request, response: Response) -> None:
    """Write the session's cookie onto ``response`` if it changed."""
    session = session_of(request)
    if not session.changed:
        return
    runtime: Runtime = request.app.state.runtime
    response.set_cookie(
        COOKIE,
        _serializer(runtime).dumps(session.as_cookie()),
        max_age=MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


async def check_csrf(request: Request) -> None:
    """403 unless a POST's form carries the session's CSRF token."""
    if request.method != "POST":
        return
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = session_of(request).csrf
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(
            403, "the form's CSRF token is missing or is not this session's; reload the page"
        )


async def session_user(request: Request) -> User:
    """The signed-in user, their token read by the API's own reader; 503 first while the
    database is unreachable."""
    runtime = await get_runtime(request)
    session = session_of(request)
    if session.token is None:
        raise NotSignedInError()
    user = runtime.tokens.recall(session.token)
    if user is None:
        try:
            user = await run_in_threadpool(runtime.tokens.read, session.token)
        except InvalidTokenError:
            raise NotSignedInError() from None
        except TokenKeysUnavailableError as error:
            raise HTTPException(503, str(error)) from None
    request.state.user = user.name  # for the access log
    request.state.page_user = user  # for an error page's menu
    return user


async def sign_in(request: Request, token: str) -> User:
    """Accept ``token`` for the session: the user it names, or InvalidTokenError."""
    runtime: Runtime = request.app.state.runtime
    user = await run_in_threadpool(runtime.tokens.read, token)
    session = session_of(request)
    session.token = token
    session.csrf = secrets.token_urlsafe(32)  # a new session gets a new CSRF token
    session.signing_in = None
    session.changed = True
    return user


def begin_provider_sign_in(request: Request) -> tuple[str, str]:
    """A new state and PKCE verifier for a sign-in at the provider, kept in the session."""
    session = session_of(request)
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    session.signing_in = {"state": state, "verifier": verifier}
    session.changed = True
    return state, verifier


def provider_verifier(request: Request, state: str) -> str:
    """The verifier of the sign-in the provider answers, if ``state`` is the one it was sent
    with (else 403: the answer is not to a sign-in begun in this browser)."""
    pending = session_of(request).signing_in or {}
    if not hmac.compare_digest(state, pending.get("state", "")):
        raise HTTPException(
            403, "this sign-in was not begun from this browser, or was begun again since"
        )
    return pending["verifier"]

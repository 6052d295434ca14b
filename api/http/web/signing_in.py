"""Signing in (a pasted token, or at the OpenID Connect provider), out, the language, and
the page a signed-in person lands on.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.core.bootstrap import Runtime
from api.core.identities import InvalidTokenError, TokenKeysUnavailableError
from api.http.deps import (
    RuntimeDep,
)
from api.http.web import session
from api.http.web.forms import (
    PREFIX,
    Signed,
    given,
    in_thread,
    redirect,
)
from api.http.web.labels import LANGUAGES
from api.http.web.templating import render

router = APIRouter()

# Signing in and out.


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


def _login_page(request: Request, failure: str | None = None) -> Response:
    """The sign-in form; with why the last sign-in failed, if it did (401)."""
    runtime: Runtime = request.app.state.runtime
    provider = runtime.settings.oidc_sign_in() is not None
    context = {"failure": failure, "provider": provider}
    return render(request, "login.html", context, status_code=401 if failure else 200)


@router.get("/login/provider")
def login_at_provider(request: Request, runtime: RuntimeDep) -> Response:
    """Send the browser to the OpenID Connect provider to sign in."""
    provider = runtime.settings.oidc_sign_in()
    if provider is None:
        raise HTTPException(404, "no OpenID Connect provider is set for signing in")
    state, verifier = session.begin_provider_sign_in(request)
    target = provider.redirect(_provider_return(request), state, verifier)
    return redirect(request, target)


@router.get("/login/provider/return")
async def provider_return(request: Request, runtime: RuntimeDep) -> Response:
    """Where the provider sends the browser back, with a code for the access token."""
    provider = runtime.settings.oidc_sign_in()
    if provider is None:
        raise HTTPException(404, "no OpenID Connect provider is set for signing in")
    verifier = session.provider_verifier(request, given(request, "state") or "")
    code = given(request, "code")
    if code is None:
        said = given(request, "error_description") or given(request, "error") or "no code"
        return _login_page(request, f"the identity provider did not sign you in: {said}")
    try:
        token = await in_thread(provider.exchange, code, verifier, _provider_return(request))
        await session.sign_in(request, token)
    except InvalidTokenError as error:
        return _login_page(request, str(error))
    except TokenKeysUnavailableError as error:
        raise HTTPException(503, str(error)) from None
    return redirect(request, f"{PREFIX}/")


def _provider_return(request: Request) -> str:
    return str(request.url_for("provider_return"))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    token = str(form.get("token", "")).strip()
    try:
        await session.sign_in(request, token)
    except InvalidTokenError as error:
        return _login_page(request, str(error))
    return redirect(request, f"{PREFIX}/")


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    session.forget(response)
    return response


@router.get("/language/{language}")
def language(language: str, request: Request) -> Response:
    """Switch the pages' language; back to the page it was asked from."""
    if language not in LANGUAGES:
        raise HTTPException(404, f"no labels in {language!r}: {', '.join(LANGUAGES)}")
    current = session.session_of(request)
    current.language = language
    current.changed = True
    back = request.headers.get("referer", "")
    target = back if back.startswith(str(request.base_url)) else f"{PREFIX}/"
    return redirect(request, target)


# Pages.


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Signed) -> Response:
    return render(request, "home.html", {"user": user})

"""Rendering a page: its template, the caller's language, the session's CSRF token, and the
session's cookie."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from api.core.identities import User
from api.http.deps import ACCOUNTANTS, AUDITORS, EVERYONE, OVERSEERS, STAFF
from api.http.web import session
from api.http.web.labels import DEFAULT_LANGUAGE, LANGUAGES, translator
from domain.months import BUREAU_TIME_ZONE

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def _yuan(value: Decimal | None) -> str:
    """Money as the bureau writes it: thousands separated, two places."""
    return "" if value is None else f"{value:,.2f}"


def _local(moment: datetime) -> str:
    """A moment as the bureau reads it: in its own time zone, to the minute."""
    return f"{moment.astimezone(BUREAU_TIME_ZONE):%Y-%m-%d %H:%M}"


templates.env.filters["yuan"] = _yuan
templates.env.filters["local"] = _local
templates.env.filters["query"] = urlencode


# The pages a user's role may open, in the order the menu lists them: the same roles as the
# API's endpoints behind them.
MENU = (
    ("/web/rolls", "roll", EVERYONE),
    ("/web/totals", "totals", STAFF),
    ("/web/approvals", "approvals", OVERSEERS),
    ("/web/standards", "standards", STAFF),
    ("/web/periods", "periods", ACCOUNTANTS),
    ("/web/verification", "verification", AUDITORS),
)


def menu_for(user: User | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    return [(href, label) for href, label, roles in MENU if user.role in roles]


def language_of(request: Request) -> str:
    chosen = session.session_of(request).language
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def labels_of(request: Request) -> dict[str, str]:
    return translator(language_of(request))


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    current = session.session_of(request)
    language = language_of(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            **context,
            "t": translator(language),
            "language": language,
            "languages": LANGUAGES,
            "csrf_field": session.CSRF_FIELD,
            "csrf_token": current.csrf,
            "signed_in": current.token is not None,
            "menu": menu_for(context.get("user")),
            "path": request.url.path,
            "region_names": request.app.state.runtime.ledger.regions.names,
            "other_pages": urlencode(
                [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
            ),
        },
        status_code=status_code,
    )
    session.keep(request, response)
    return response

"""The pages, one module per audience's task, each reading through the same read side and
the same role and region rules as the JSON API (``api.http.deps``), and writing through the
same ``Writer`` and ``api.services.decisions`` functions (so the four-eyes rule is the
ledger's, enforced once). Where a page offers a file, it is the API endpoint's own answer.
Every form posted to them carries the session's CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.http.web import approving, records, rolls, session, signing_in, totals, verifying
from api.http.web.forms import PREFIX

router = APIRouter(prefix=PREFIX, dependencies=[Depends(session.check_csrf)])
for room in (signing_in, rolls, totals, records, approving, verifying):
    router.include_router(room.router)

"""A year's totals per programme and month, in a table and in charts of the figures
``ledger report`` draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.core.bootstrap import Runtime
from api.core.identities import User
from api.http.deps import (
    Knowledge,
    RuntimeDep,
)
from api.http.problems import INVALID_REQUEST, HTTPProblem
from api.http.web.charts import Series, line_chart
from api.http.web.forms import (
    StaffPage,
    given,
    in_thread,
    knowledge_asked,
)
from api.http.web.templating import labels_of, render
from domain.cases.programmes import Programme
from domain.months import BUREAU_TIME_ZONE, Month
from projections.reads.period_accounts import Accounts

router = APIRouter()


@router.get("/totals", response_class=HTMLResponse)
async def totals(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    knowledge = await knowledge_asked(request)
    year_text = given(request, "year")
    if year_text is not None and not (year_text.isdigit() and 1900 <= int(year_text) <= 2999):
        raise HTTPProblem(INVALID_REQUEST, "a year is 1900 to 2999", field="query.year")
    year = int(year_text) if year_text else datetime.now(BUREAU_TIME_ZONE).year
    return await in_thread(_totals_page, request, runtime, user, knowledge, year)


@dataclass(frozen=True)
class YearFigure:
    programme: str
    month: Month
    cases: int
    entitled: Decimal
    paid: Decimal | None
    settled: Decimal | None
    outstanding: Decimal | None
    drawn: Decimal  # what ``ledger report`` draws: paid where closed, entitled elsewhere
    final: bool  # every region with a figure has closed the month


def _totals_page(
    request: Request, runtime: Runtime, user: User, knowledge: Knowledge, year: int
) -> Response:
    figures = _year_figures(runtime, user, year, knowledge.position)
    months = [Month.of(year, m) for m in range(1, 13)]
    programmes = [p.value for p in Programme if any(f.programme == p.value for f in figures)]
    by_key = {(f.programme, f.month): f for f in figures}
    labels = labels_of(request)
    money_series = [
        Series(
            labels.get(f"programme.{p}", p),
            [by_key[(p, m)].drawn if (p, m) in by_key else Decimal("0.00") for m in months],
            [bool(by_key.get((p, m)) and by_key[(p, m)].final) for m in months],
        )
        for p in programmes
    ]
    case_series = [
        Series(
            labels.get(f"programme.{p}", p),
            [by_key[(p, m)].cases if (p, m) in by_key else 0 for m in months],
            [True] * 12,
        )
        for p in programmes
    ]
    x_labels = [f"{m.month}" for m in months]
    return render(
        request,
        "totals.html",
        {
            "user": user,
            "year": year,
            "position": knowledge.position,
            "figures": figures,
            "money_chart": line_chart(labels["chart_totals"], x_labels, money_series),
            "cases_chart": line_chart(labels["chart_cases"], x_labels, case_series),
        },
    )


def _year_figures(runtime: Runtime, user: User, year: int, position: int) -> list[YearFigure]:
    """Per programme and month of ``year``, in the regions ``user`` serves, summed over
    them: what ``GET /totals`` answers for each month."""
    read = runtime.read_side
    closed = {
        (a.programme, a.region, a.month): a
        for a in Accounts(runtime.views).closed_months(position, year=year)
        if user.serves(a.region)
    }
    zero = Decimal("0.00")
    sums: dict[tuple[str, Month], dict[str, Any]] = {}
    for number in range(1, 13):
        month = Month.of(year, number)
        open_cases = {
            (t.programme, t.region): t
            for t in read.totals(month, position)
            if user.serves(t.region)
        }
        closed_here = {(p, r): a for (p, r, m), a in closed.items() if m == month}
        for key in sorted(open_cases.keys() | closed_here.keys()):
            total, account = open_cases.get(key), closed_here.get(key)
            entry = sums.setdefault(
                (key[0], month),
                {
                    "cases": 0,
                    "entitled": zero,
                    "paid": None,
                    "settled": None,
                    "outstanding": None,
                    "drawn": zero,
                    "final": True,
                },
            )
            entry["cases"] += total.cases if total else 0
            entry["entitled"] += total.entitled if total else account.entitled if account else zero
            if account is None:
                entry["drawn"] += total.entitled if total else zero
                entry["final"] = False
                continue
            entry["drawn"] += account.paid
            for name, value in (
                ("paid", account.paid),
                ("settled", account.settled),
                ("outstanding", account.outstanding),
            ):
                entry[name] = (entry[name] or zero) + value
    order = {p.value: i for i, p in enumerate(Programme)}
    return [
        YearFigure(programme, month, **values)
        for (programme, month), values in sorted(
            sums.items(), key=lambda item: (order.get(item[0][0], 99), item[0][1])
        )
    ]

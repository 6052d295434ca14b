from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.http.deps import (
    Accountant,
    Anyone,
    Knowledge,
    KnowledgeDep,
    RuntimeDep,
    Staff,
    refuse_outside,
)
from api.http.formats import (
    POSITION_HEADER,
    AcceptedFormat,
    Format,
    csv_response,
    csv_responses,
    json_response,
)
from api.http.pages import LINK_HEADER, PageDep, link_header
from api.http.problems import NOT_ACCEPTABLE_RESPONSE, PROBLEM_RESPONSES
from api.http.schemas import (
    EntitlementPublic,
    EntitlementsPublic,
    IdentityQuery,
    MonthReconciliationPublic,
    MonthReconciliationRow,
    ReconciliationPublic,
    ReconciliationRow,
    RollEntryPublic,
    RollPublic,
    TotalPublic,
    TotalsPublic,
)
from api.http.threads import read_threads
from api.services.fields import AnyProgramme, RegionCode
from domain.people.identity import IdentityNumber
from projections.reads.period_accounts import Accounts, month_totals, reconcile
from projections.reads.read_side import Entitlement

router = APIRouter(tags=["queries"], responses=PROBLEM_RESPONSES)


ROLL_CSV = "case_id,amount,status\r\n0b6f9c1e4f2a4d4e9a7c3b2d1e0f9a8b,1200.00,paying\r\n"
TOTALS_CSV = (
    "programme,region,cases,entitled,paid,settled,outstanding\r\n"
    "dibao-urban,410611,120,84000.00,,,\r\n"
)


@router.get(
    "/rolls/{programme}/{region}",
    response_model=RollPublic,
    responses={**csv_responses(ROLL_CSV, LINK_HEADER), **NOT_ACCEPTABLE_RESPONSE},
)
def roll(
    programme: AnyProgramme,
    region: RegionCode,
    request: Request,
    runtime: RuntimeDep,
    user: Anyone,
    knowledge: KnowledgeDep,
    page: PageDep,
    answer_as: AcceptedFormat,
) -> Response:
    """The open cases of a programme in a region for a month, as known at a position, in
    case order, a page at a time; as JSON, or as CSV (`Accept: text/csv`)."""
    runtime.ledger.regions.check(region)
    read, month, position = knowledge.read, knowledge.as_of, knowledge.position
    summary = read.roll_summary(programme, region, month, position)
    entries = read.roll(programme, region, month, position, page.offset, page.limit)
    links = page.links(request, summary.cases, {"as_of": str(month), "known_at_position": position})
    headers = {POSITION_HEADER: str(position), **link_header(links)}
    if answer_as is Format.CSV:
        return csv_response(
            ("case_id", "amount", "status"),
            ((e.subject_id, e.amount, e.status) for e in entries),
            name=f"roll-{programme}-{region}-{month}",
            position=position,
            part=page.in_name(len(entries), links),
            headers=headers,
        )
    answer = RollPublic(
        programme=programme,
        region=region,
        as_of=str(month),
        position=position,
        total=summary.cases,
        entitled=summary.entitled,
        offset=page.offset,
        limit=page.limit,
        links=links,
        entries=[
            RollEntryPublic(case_id=e.subject_id, amount=e.amount, status=e.status) for e in entries
        ],
    )
    return json_response(answer, headers)


@router.post("/entitlements/search", response_model=EntitlementsPublic)
async def entitlements(
    request: Request, body: IdentityQuery, user: Anyone, knowledge: KnowledgeDep
) -> Response:
    """What a person is entitled to across programmes in a month, in the regions you serve.
    The identity number goes in the body, never in the URL."""
    number = IdentityNumber.parse(body.identity_number)
    reference = knowledge.runtime.ledger.references.reference(number)
    if knowledge.may_wait:
        found = await read_threads(request).run(_entitlements_of, reference, knowledge)
    else:
        found = await knowledge.read.entitlements_on_loop(
            reference, knowledge.as_of, knowledge.position
        )
    answer = EntitlementsPublic(
        as_of=str(knowledge.as_of),
        position=knowledge.position,
        entitlements=[
            EntitlementPublic(
                subject_id=e.subject_id,
                programme=e.programme,
                region=e.region,
                amount=e.amount,
                status=e.status,
            )
            for e in found
            if user.serves(e.region)
        ],
    )
    return json_response(answer)


def _entitlements_of(reference: str, knowledge: Knowledge) -> list[Entitlement]:
    """The read of a search, which waits for the position asked for, if any."""
    return knowledge.read.entitlements(reference, knowledge.as_of, knowledge.position)


@router.get(
    "/totals",
    response_model=TotalsPublic,
    responses={**csv_responses(TOTALS_CSV, {}), **NOT_ACCEPTABLE_RESPONSE},
)
def totals(
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
    answer_as: AcceptedFormat,
    programme: AnyProgramme | None = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> Response:
    """Entitled amount and cases per programme and region you serve; for a closed month also
    what was paid, settled since, and is outstanding. As JSON, or as CSV (`Accept: text/csv`),
    where the amounts of a month not yet closed are empty."""
    if region is not None:
        refuse_outside(runtime, user, region)
    month, position = knowledge.as_of, knowledge.position
    rows = [
        r
        for r in month_totals(knowledge.views, month, position, programme, region)
        if user.serves(r.region)
    ]
    if answer_as is Format.CSV:
        return csv_response(
            ("programme", "region", "cases", "entitled", "paid", "settled", "outstanding"),
            (
                (r.programme, r.region, r.cases, r.entitled, r.paid, r.settled, r.outstanding)
                for r in rows
            ),
            name=f"totals-{month}" + "".join(f"-{f}" for f in (programme, region) if f),
            position=position,
        )
    out = [
        TotalPublic(
            programme=row.programme,
            region=row.region,
            cases=row.cases,
            entitled=row.entitled,
            paid=row.paid,
            settled=row.settled,
            outstanding=row.outstanding,
        )
        for row in rows
        if user.serves(row.region)
    ]
    answer = TotalsPublic(as_of=str(knowledge.as_of), position=knowledge.position, totals=out)
    return json_response(answer, {POSITION_HEADER: str(position)})


@router.get("/reconciliation")
def reconciliation(
    runtime: RuntimeDep,
    user: Accountant,
    knowledge: KnowledgeDep,
    year: Annotated[int | None, Query(ge=1900, le=2999)] = None,
) -> ReconciliationPublic:
    """Per programme and year of closed months in the regions you serve: entitled, paid,
    arrears, recoveries, outstanding, as known at the position asked for."""
    position = knowledge.position
    months = Accounts(knowledge.views).closed_months(position)
    rows = reconcile([month for month in months if user.serves(month.region)])
    return ReconciliationPublic(
        position=position,
        rows=[
            ReconciliationRow(
                programme=r.programme,
                year=r.year,
                entitled=r.entitled,
                paid=r.paid,
                arrears=r.arrears,
                recoveries=r.recoveries,
                outstanding=r.outstanding,
                returned=r.returned,
                held=r.held,
                reissued=r.reissued,
            )
            for r in rows
            if year is None or r.year == year
        ],
    )


@router.get("/reconciliation/months")
def reconciliation_by_month(
    runtime: RuntimeDep,
    user: Accountant,
    knowledge: KnowledgeDep,
    year: Annotated[int | None, Query(ge=1900, le=2999)] = None,
    programme: AnyProgramme | None = None,
    region: RegionCode | None = None,
) -> MonthReconciliationPublic:
    """Every closed month per programme and region in the regions you serve: entitled,
    paid, arrears, recoveries, settled and outstanding (paid and settled net of the bank's
    returns), and under the month they were for: returned (what returns undid), held (what
    held lines would have paid) and reissued (arrears paid after a return), as known at the
    position asked for."""
    position = knowledge.position
    value = programme.value if programme is not None else None
    months = Accounts(knowledge.views).closed_months(position, value, region)
    return MonthReconciliationPublic(
        position=position,
        months=[
            MonthReconciliationRow(
                programme=m.programme,
                region=m.region,
                month=str(m.month),
                entitled=m.entitled,
                paid=m.paid,
                arrears=m.arrears,
                recoveries=m.recoveries,
                settled=m.settled,
                outstanding=m.outstanding,
                returned=m.returned,
                held=m.held,
                reissued=m.reissued,
            )
            for m in months
            if user.serves(m.region) and (year is None or m.month.year == year)
        ],
    )

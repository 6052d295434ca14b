from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from api.http.deps import Accountant, Anyone, KnowledgeDep, RuntimeDep, Staff, refuse_outside
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import (
    EntitlementPublic,
    EntitlementsPublic,
    IdentityQuery,
    ReconciliationPublic,
    ReconciliationRow,
    RollEntryPublic,
    RollPublic,
    TotalPublic,
    TotalsPublic,
)
from api.services.fields import AnyProgramme, RegionCode
from domain.people.identity import IdentityNumber
from projections.reads.period_accounts import Accounts, month_totals, reconcile

router = APIRouter(tags=["queries"], responses=PROBLEM_RESPONSES)


@router.get("/rolls/{programme}/{region}")
def roll(
    programme: AnyProgramme,
    region: RegionCode,
    runtime: RuntimeDep,
    user: Anyone,
    knowledge: KnowledgeDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RollPublic:
    """The open cases of a programme in a region for a month, as known at a position."""
    runtime.ledger.regions.check(region)
    entries = runtime.read_side.roll(programme, region, knowledge.as_of, knowledge.position)
    return RollPublic(
        programme=programme,
        region=region,
        as_of=str(knowledge.as_of),
        position=knowledge.position,
        total=len(entries),
        entitled=sum((e.amount for e in entries), Decimal("0.00")),
        offset=offset,
        limit=limit,
        entries=[
            RollEntryPublic(case_id=e.subject_id, amount=e.amount, status=e.status)
            for e in entries[offset : offset + limit]
        ],
    )


@router.post("/entitlements/search")
def entitlements(
    body: IdentityQuery, runtime: RuntimeDep, user: Anyone, knowledge: KnowledgeDep
) -> EntitlementsPublic:
    """What a person is entitled to across programmes in a month, in the regions you serve.
    The identity number goes in the body, never in the URL."""
    number = IdentityNumber.parse(body.identity_number)
    reference = runtime.ledger.references.reference(number)
    found = runtime.read_side.entitlements(reference, knowledge.as_of, knowledge.position)
    return EntitlementsPublic(
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


@router.get("/totals")
def totals(
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
    programme: AnyProgramme | None = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> TotalsPublic:
    """Entitled amount and cases per programme and region you serve; for a closed month also
    what was paid, settled since, and is outstanding."""
    if region is not None:
        refuse_outside(runtime, user, region)
    rows = month_totals(runtime.views, knowledge.as_of, knowledge.position, programme, region)
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
    return TotalsPublic(as_of=str(knowledge.as_of), position=knowledge.position, totals=out)


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
    months = Accounts(runtime.views).closed_months(position)
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
            )
            for r in rows
            if year is None or r.year == year
        ],
    )

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from api.http.deps import MONTH_PATTERN, Accountant, KnowledgeDep, RuntimeDep
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import AnyProgramme, PayrollLinePublic, PeriodPublic, Recorded
from api.http.writes import FinanceDecision
from api.services.inputs import RegionCode
from domain.months import parse_month
from projections.reads.payroll_lines import close_period
from projections.reads.period_accounts import Accounts

router = APIRouter(prefix="/periods", tags=["payroll periods"], responses=PROBLEM_RESPONSES)

MonthPath = Annotated[str, Path(pattern=MONTH_PATTERN, examples=["2020-08"])]


@router.post("/{programme}/{region}/{month}/close", status_code=status.HTTP_201_CREATED)
def close(
    programme: AnyProgramme,
    region: RegionCode,
    month: MonthPath,
    runtime: RuntimeDep,
    decide: FinanceDecision,
) -> Recorded:
    """Close a month: its payroll lines (the month's amounts, arrears for earlier closed months,
    recoveries to collect) are computed from everything recorded so far and frozen."""
    closing = parse_month(month, "month")
    return decide(
        None,
        lambda ledger, actor: close_period(
            ledger, runtime.views, programme, region, closing, actor=actor
        ),
    )


@router.get("/{programme}/{region}/{month}")
def read_period(
    programme: AnyProgramme,
    region: RegionCode,
    month: MonthPath,
    runtime: RuntimeDep,
    user: Accountant,
    knowledge: KnowledgeDep,
) -> PeriodPublic:
    """A closed period with its payroll lines, and whether they still match their digest."""
    accounts = Accounts(runtime.views)
    closing = parse_month(month, "month")
    periods = [
        p for p in accounts.periods(knowledge.position, programme, region) if p.month == closing
    ]
    if not periods:
        raise HTTPException(404, f"{programme} in {region} has no closed period {month}")
    period = periods[0]
    return PeriodPublic(
        programme=period.programme,
        region=period.region,
        month=str(period.month),
        position=period.position,
        line_count=period.line_count,
        month_total=period.month_total,
        arrears=period.arrears,
        recoveries=period.recoveries,
        digest=period.digest,
        digest_matches=period.digest_matches,
        lines=[
            PayrollLinePublic(
                case_id=line.subject_id,
                person_reference=holder,
                amount=line.amount,
                arrears=line.arrears,
                recoveries=line.recoveries,
                total_to_pay=line.to_pay,
            )
            for line, holder in accounts.lines(programme, region, closing)
        ],
    )

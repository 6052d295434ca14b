from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from api.http.deps import Accountant, KnowledgeDep, RuntimeDep
from api.http.formats import (
    POSITION_HEADER,
    AcceptedFormat,
    Format,
    csv_response,
    csv_responses,
)
from api.http.pages import LINK_HEADER, PageDep, link_header
from api.http.problems import NOT_ACCEPTABLE_RESPONSE, PROBLEM_RESPONSES
from api.http.schemas import PayrollLinePublic, PeriodPublic, Recorded
from api.http.writes import FinanceWriter
from api.services.closing import close_period
from api.services.fields import MONTH_PATTERN, AnyProgramme, RegionCode
from domain.months import parse_month
from projections.reads.period_accounts import Accounts

router = APIRouter(prefix="/periods", tags=["payroll periods"], responses=PROBLEM_RESPONSES)

MonthPath = Annotated[str, Path(pattern=MONTH_PATTERN, examples=["2020-08"])]


@router.post("/{programme}/{region}/{month}/close", status_code=status.HTTP_201_CREATED)
def close(
    programme: AnyProgramme,
    region: RegionCode,
    month: MonthPath,
    runtime: RuntimeDep,
    write: FinanceWriter,
) -> Recorded:
    """Close a month: its payroll lines (the month's amounts, arrears for earlier closed months,
    recoveries to collect) are computed from everything recorded so far and frozen."""
    closing = parse_month(month, "month")
    return write(
        None,
        lambda ledger, actor, uow: close_period(
            ledger, runtime.views, programme, region, closing, actor=actor, uow=uow
        ),
    )


PAYROLL_CSV = (
    "case_id,person_reference,amount,arrears,recoveries,total_to_pay,held\r\n"
    "0b6f9c1e4f2a4d4e9a7c3b2d1e0f9a8b,5d41402abc4b2a76b9719d911017c592ae1c5a6f2d3b4c1e8f7a6b5c4d3e2f10,1200.00,50.00,0.00,1250.00,0.00\r\n"
)


@router.get(
    "/{programme}/{region}/{month}",
    response_model=PeriodPublic,
    responses={**csv_responses(PAYROLL_CSV, LINK_HEADER), **NOT_ACCEPTABLE_RESPONSE},
)
def read_period(
    programme: AnyProgramme,
    region: RegionCode,
    month: MonthPath,
    request: Request,
    runtime: RuntimeDep,
    user: Accountant,
    knowledge: KnowledgeDep,
    page: PageDep,
    answer_as: AcceptedFormat,
    response: Response,
) -> PeriodPublic | Response:
    """A closed period with its payroll lines in case order, a page at a time, and whether
    they still match their digest; as JSON, or its lines as CSV (`Accept: text/csv`). A
    line held after a bank's return pays nothing and shows what it holds (`held`)."""
    accounts = Accounts(knowledge.views)
    closing = parse_month(month, "month")
    position = knowledge.position
    periods = [p for p in accounts.periods(position, programme, region) if p.month == closing]
    if not periods:
        raise HTTPException(404, f"{programme} in {region} has no closed period {month}")
    period = periods[0]
    lines = accounts.lines(programme, region, closing, page.offset, page.limit)
    total = accounts.line_count(programme, region, closing)
    links = page.links(request, total, {"known_at_position": position})
    headers = {POSITION_HEADER: str(position), **link_header(links)}
    if answer_as is Format.CSV:
        return csv_response(
            (
                "case_id",
                "person_reference",
                "amount",
                "arrears",
                "recoveries",
                "total_to_pay",
                "held",
            ),
            (
                (
                    line.subject_id,
                    holder,
                    line.amount,
                    line.arrears,
                    line.recoveries,
                    line.to_pay,
                    line.held,
                )
                for line, holder in lines
            ),
            name=f"payroll-{programme}-{region}-{closing}",
            position=position,
            part=page.in_name(len(lines), links),
            headers=headers,
        )
    response.headers.update(headers)
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
        offset=page.offset,
        limit=page.limit,
        links=links,
        lines=[
            PayrollLinePublic(
                case_id=line.subject_id,
                person_reference=holder,
                amount=line.amount,
                arrears=line.arrears,
                recoveries=line.recoveries,
                total_to_pay=line.to_pay,
                held=line.held,
            )
            for line, holder in lines
        ],
    )

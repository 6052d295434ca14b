"""Payment to the bank and the bank's returns: a case's payee, a closed period's payment
file (ISO 20022 pain.001.001.09 or CSV), and the returns the bank sends back (one at a
time, or a pain.002 status report or CSV of returns)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.core.bootstrap import Runtime
from api.http.deps import Accountant, Finance, KnowledgeDep, RuntimeDep, Staff
from api.http.formats import POSITION_HEADER
from api.http.problems import (
    INVALID_REQUEST,
    PROBLEM_RESPONSES,
    UNSUPPORTED_MEDIA_TYPE,
    HTTPProblem,
)
from api.http.schemas import Recorded
from api.http.writes import CaseworkerWriter
from api.services import decisions
from api.services.bank_returns import (
    ReturnGiven,
    ReturnsRecorded,
    checked_reason,
    checked_reference,
    record_returns,
    returns_from_csv,
    returns_from_pain_002,
)
from api.services.decisions import PayeeChange
from api.services.fields import MONTH_PATTERN, AnyProgramme, Body, RegionCode
from api.services.payment_files import pain_001, payment_file, payment_id, payments_csv
from domain.application.recording import SaveNow
from domain.months import parse_month

router = APIRouter(tags=["payments"], responses=PROBLEM_RESPONSES)

MonthPath = Annotated[str, Path(pattern=MONTH_PATTERN, examples=["2020-08"])]
XML_MEDIA_TYPE = "application/xml"


class PayeePublic(BaseModel):
    """A case's payee as known at a position: who is paid, and the card's last four digits
    (the whole number is shown only in the bank's payment file)."""

    case_id: UUID
    recipient_reference: str
    account_ending: str
    position: int


@router.post("/cases/{case_id}/payee-changes", status_code=status.HTTP_201_CREATED)
def change_payee(case_id: UUID, body: PayeeChange, write: CaseworkerWriter) -> Recorded:
    """Record who is paid (a person of the case, by identity number; default the first)
    and into which bank card, from now on. A case held after a bank's return is paid again
    at the next close after this decision: what it is owed, as arrears, to the new card."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.change_payee(
            ledger, case_id, body, actor=actor, uow=uow
        ),
    )


@router.get("/cases/{case_id}/payee")
def read_payee(
    case_id: UUID, runtime: RuntimeDep, user: Staff, knowledge: KnowledgeDep
) -> PayeePublic:
    """The case's payee as known at the position asked for (default: now)."""
    version = knowledge.read.version_at(case_id.hex, knowledge.position)
    if version is None:
        raise HTTPException(404, f"no case {case_id} was known at position {knowledge.position}")
    payee = runtime.ledger.case(case_id, version).payee
    if payee is None:
        raise HTTPException(404, f"case {case_id} had no payee at position {knowledge.position}")
    return PayeePublic(
        case_id=case_id,
        recipient_reference=payee.recipient,
        account_ending=payee.account.reveal()[-4:],
        position=knowledge.position,
    )


PAIN_001_EXAMPLE = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn>'
    "<GrpHdr><MsgId>dibao-urban/410611/2020-08</MsgId>...<NbOfTxs>1</NbOfTxs>"
    "<CtrlSum>1500.00</CtrlSum>...</GrpHdr><PmtInf>...<CdtTrfTxInf><PmtId>"
    "<EndToEndId>202008-BNXZYHRPFJGU3GT4HMLN2HIPRI</EndToEndId></PmtId>...</CdtTrfTxInf>"
    "</PmtInf></CstmrCdtTrfInitn></Document>"
)


@router.get(
    "/periods/{programme}/{region}/{month}/payments.xml",
    response_class=Response,
    responses={200: {"content": {XML_MEDIA_TYPE: {"example": PAIN_001_EXAMPLE}}}},
)
def read_payments_xml(
    programme: AnyProgramme,
    region: RegionCode,
    month: MonthPath,
    runtime: RuntimeDep,
    user: Accountant,
    knowledge: KnowledgeDep,
) -> Response:
    """The closed period's payment file as ISO 20022 pain.001.001.09: one credit transfer per
    line that pays something (the month's amount plus arrears) to its case's payee, with
    the file's count and control sum (GrpHdr and PmtInf) and an end-to-end id per line
    (``YYYYMM-`` and the case id in base 32) that the bank's returns name. Held lines are
    not in it. 409 ``payee-missing`` while a line to pay has a case without a payee."""
    file = payment_file(
        runtime.ledger, knowledge.views, programme, region, parse_month(month), knowledge.position
    )
    return Response(
        pain_001(file, runtime.settings),
        media_type=XML_MEDIA_TYPE,
        headers=_file_headers(file.message_id, "xml", knowledge.position),
    )


PAYMENTS_CSV_EXAMPLE = (
    "record,message_id,end_to_end_id,case_id,recipient,account,currency,amount,arrears,"
    "to_pay,count,control_sum\r\n"
    "transfer,dibao-urban/410611/2020-08,202008-BNXZYHRPFJGU3GT4HMLN2HIPRI,"
    "0b6f9c1e4f2a4d4e9a7c3b2d1e0f9a8b,张三,6222020200112345679,CNY,1350.00,150.00,1500.00,,\r\n"
    "control,dibao-urban/410611/2020-08,,,,,CNY,,,,1,1500.00\r\n"
)


@router.get(
    "/periods/{programme}/{region}/{month}/payments.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"example": PAYMENTS_CSV_EXAMPLE}}}},
)
def read_payments_csv(
    programme: AnyProgramme,
    region: RegionCode,
    month: MonthPath,
    runtime: RuntimeDep,
    user: Accountant,
    knowledge: KnowledgeDep,
) -> Response:
    """The same payment file as CSV, for banks that want it: a ``transfer`` row per line,
    then a ``control`` row with the count and the control sum."""
    file = payment_file(
        runtime.ledger, knowledge.views, programme, region, parse_month(month), knowledge.position
    )
    return Response(
        payments_csv(file),
        media_type="text/csv; charset=utf-8; header=present",
        headers=_file_headers(file.message_id, "csv", knowledge.position),
    )


def _file_headers(message_id: str, extension: str, position: int) -> dict[str, str]:
    name = message_id.replace("/", "-")
    return {
        "Content-Disposition": f'attachment; filename="payments-{name}.{extension}"',
        POSITION_HEADER: str(position),
    }


class ReturnIn(Body):
    case_id: UUID
    bank_reference: str = Field(min_length=1, max_length=35, examples=["RTN20200905001"])
    reason: str = Field(
        min_length=4,
        max_length=4,
        description="ISO 20022 return reason code: AC04 closed account, AC01 wrong account "
        "number, BE01 name mismatch, MD07 deceased, ...",
        examples=["AC04"],
    )


class ReturnsAnswer(BaseModel):
    """Returns taken: how many were recorded now, how many were recorded before (passed
    over: they change nothing), and the ledger position after them (unmoved when none was
    new)."""

    recorded: int
    already_recorded: int
    position: int
    end_to_end_ids: list[str] = Field(description="the lines recorded as returned now")


@router.post(
    "/periods/{programme}/{region}/{month}/returns",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "This line's return was recorded before: nothing changed"}},
)
def record_return(
    programme: AnyProgramme,
    region: RegionCode,
    month: MonthPath,
    body: ReturnIn,
    runtime: RuntimeDep,
    user: Finance,
    response: Response,
) -> ReturnsAnswer:
    """Record the bank's return of a case's line of a closed period: what the line sent is
    outstanding again, and the case is held at later closes until its payee changes. The
    same return again changes nothing (200). Refused: a period not closed
    (``period-not-closed``), a held line (``held-line``), a case with nothing paid in the
    period (``not-in-period``)."""
    given = ReturnGiven(
        parse_month(month, "month"),
        body.case_id,
        checked_reference(body.bank_reference, "bank_reference"),
        checked_reason(body.reason, "reason"),
        (programme.value, region),
    )
    answer = _record(runtime, [given], user.name)
    if not answer.recorded:
        response.status_code = status.HTTP_200_OK
    return answer


@router.post(
    "/payments/returns",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                XML_MEDIA_TYPE: {"schema": {"type": "string", "description": "pain.002"}},
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "end_to_end_id,bank_reference,reason\r\n"
                    "202008-BNXZYHRPFJGU3GT4HMLN2HIPRI,RTN20200905001,AC04\r\n",
                },
            },
        }
    },
)
async def import_returns(request: Request, runtime: RuntimeDep, user: Finance) -> ReturnsAnswer:
    """Import the bank's answer to a payment file: a pain.002 CustomerPaymentStatusReport
    (`Content-Type: application/xml`; its RJCT transactions are returns, named by
    OrgnlEndToEndId, with StsRsnInf/Rsn/Cd as the reason and StsId as the bank's reference)
    or a CSV of returns (`text/csv`: end_to_end_id, bank_reference, reason). The file is
    taken whole or not at all; returns recorded before are passed over, so the same file
    imported twice changes nothing."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    data = await request.body()
    if media_type in (XML_MEDIA_TYPE, "text/xml"):
        given = returns_from_pain_002(data)
    elif media_type == "text/csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPProblem(
                INVALID_REQUEST, "a returns CSV is UTF-8 text", field="body"
            ) from None
        given = returns_from_csv(text)
    else:
        raise HTTPProblem(
            UNSUPPORTED_MEDIA_TYPE,
            "a returns file is a pain.002 status report (application/xml) or a CSV of returns "
            f"(text/csv), not {media_type or 'a body of no declared type'}",
            field="header.Content-Type",
        )
    return await run_in_threadpool(_record, runtime, given, user.name)


def _record(runtime: Runtime, given: list[ReturnGiven], actor: str) -> ReturnsAnswer:
    ledger = runtime.ledger
    done: ReturnsRecorded = record_returns(
        ledger, runtime.views, given, actor=actor, uow=SaveNow(ledger)
    )
    return ReturnsAnswer(
        recorded=len(done.recorded),
        already_recorded=done.already,
        position=done.position,
        end_to_end_ids=[payment_id(r.period, r.case_id) for r in done.recorded],
    )

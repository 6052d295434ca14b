"""The bank's returns: one given by hand, or a file (pain.002 status report, or CSV).

A return names a line by its end-to-end id (the period's month and the case, as the payment
file gave them) or by period and case. Each is checked against the views first (the
period's line exists, pays something and was not held), then the ledger records the new
ones together, in one save: a file is taken whole or not at all, and a return recorded
before (the same period and case) is passed over, so the same file imported twice changes
nothing and moves no position.

pain.002 files are read with the standard library's XML parser, which resolves no external
entity and, with the expat it ships, refuses entity expansion attacks; their size is capped
by the service's body limit. Any pain.002 version is read: a transaction whose status is
RJCT is a return; the others confirm their lines and change nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID
from xml.etree import ElementTree

from api.services.payment_files import parse_payment_id
from domain.application.ledger import Ledger
from domain.application.recording import UnitOfWork
from domain.cases.case import Case
from domain.cases.payee import BankReturn
from domain.errors import (
    HeldLineError,
    InvalidInputError,
    NotInPeriodError,
    PeriodNotClosedError,
)
from domain.months import Month
from projections.reads.payroll_lines import ARREARS, HELD, own_amount
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase

REASON_CODE = re.compile(r"^[A-Z0-9]{4}$")
REJECTED = "RJCT"
RETURN_CSV_COLUMNS = ("end_to_end_id", "bank_reference", "reason")
MAX_REFERENCE = 35


@dataclass(frozen=True)
class ReturnGiven:
    """A return as the bank gave it: its line, its reference and reason code."""

    month: Month
    case_id: UUID
    bank_reference: str
    reason: str
    schedule: tuple[str, str] | None = None  # the programme and region named, if any


@dataclass(frozen=True)
class ReturnsRecorded:
    recorded: list[BankReturn]
    already: int  # returns recorded before, passed over
    position: int


def record_returns(
    ledger: Ledger,
    views: ViewDatabase,
    given: Sequence[ReturnGiven],
    *,
    actor: str,
    uow: UnitOfWork,
    timeout: float = 10.0,
) -> ReturnsRecorded:
    """Check each return against its period's line and record the new ones together."""
    ReadSide(views).wait_for(ledger.position, timeout)
    returns = []
    seen: set[tuple[Month, UUID]] = set()
    for number, one in enumerate(given):
        field = f"returns[{number}]" if len(given) > 1 else None
        if (one.month, one.case_id) in seen:
            continue  # the same line twice in one file: once
        seen.add((one.month, one.case_id))
        try:
            returns.append(_checked(views, one, uow))
        except (NotInPeriodError, PeriodNotClosedError, HeldLineError) as refusal:
            raise refusal.within(field) if field else refusal from None
    recorded, position = ledger.record_returns(returns, actor=actor, uow=uow)
    return ReturnsRecorded(recorded, len(returns) - len(recorded), position)


def _checked(views: ViewDatabase, one: ReturnGiven, uow: UnitOfWork) -> BankReturn:
    case = uow.load(Case, one.case_id)
    if case is None:
        raise NotInPeriodError(f"no case {one.case_id} is known, so none was paid in {one.month}")
    programme, region = case.programme.value, case.region
    if one.schedule is not None and one.schedule != (programme, region):
        raise NotInPeriodError(
            f"case {one.case_id} is a {programme} case of {region}, not of "
            f"{one.schedule[0]} {one.schedule[1]}"
        )
    period = views.fetchall(
        "SELECT 1 FROM periods WHERE programme = ? AND region = ? AND month = ?",
        (programme, region, one.month.index),
    )
    if not period:
        raise PeriodNotClosedError(
            f"period {one.month} of {programme} {region} is not closed: nothing of it went to "
            "the bank, so nothing of it can come back"
        )
    kinds: dict[str, int] = {
        str(kind): int(fen)
        for kind, fen in views.fetchall(
            "SELECT kind, SUM(amount_fen) FROM payroll_items WHERE programme = ? AND region = ?"
            " AND period = ? AND subject_id = ? GROUP BY kind",
            (programme, region, one.month.index, one.case_id.hex),
        )
    }
    if kinds.get(HELD):
        raise HeldLineError(
            f"case {one.case_id}'s line of {programme} {region} {one.month} was held after an "
            "earlier return: it sent nothing to the bank"
        )
    own = own_amount(views, programme, region, one.month, one.case_id.hex)
    sent = own + kinds.get(ARREARS, 0)
    if not sent:
        raise NotInPeriodError(
            f"case {one.case_id} has no line paying anything in {programme} {region} {one.month}"
        )
    amount = _yuan(sent)
    return BankReturn(one.case_id, one.month, one.bank_reference, one.reason, amount)


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def checked_reason(text: str, field: str) -> str:
    code = text.strip().upper()
    if not REASON_CODE.match(code):
        raise InvalidInputError(
            f"{text!r} is not a return reason code: four letters or digits, as ISO 20022 "
            "gives them (AC04 closed account, BE01 name mismatch, MD07 deceased, ...)",
            field=field,
        )
    return code


def checked_reference(text: str, field: str) -> str:
    reference = text.strip()
    if not 1 <= len(reference) <= MAX_REFERENCE or not reference.isprintable():
        raise InvalidInputError(
            f"the bank's reference is 1 to {MAX_REFERENCE} printable characters", field=field
        )
    return reference


def returns_from_csv(text: str) -> list[ReturnGiven]:
    """A CSV of returns: a header row naming end_to_end_id, bank_reference and reason, then
    a row per returned line."""
    try:
        return _returns_from_csv(text)
    except csv.Error as error:
        raise InvalidInputError(f"the file is not readable as CSV: {error}") from None


def _returns_from_csv(text: str) -> list[ReturnGiven]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in RETURN_CSV_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InvalidInputError(
            "a returns CSV has a header row with the columns "
            + ", ".join(RETURN_CSV_COLUMNS)
            + f"; missing: {', '.join(missing)}"
        )
    found = []
    for number, row in enumerate(reader, start=2):
        where = f"line {number}"
        try:
            month, case_id = parse_payment_id(row["end_to_end_id"] or "", "end_to_end_id")
            found.append(
                ReturnGiven(
                    month,
                    case_id,
                    checked_reference(row["bank_reference"] or "", "bank_reference"),
                    checked_reason(row["reason"] or "", "reason"),
                )
            )
        except InvalidInputError as refusal:
            refusal.message = f"{where}: {refusal.message}"
            raise refusal from None
    return found


def returns_from_pain_002(data: bytes) -> list[ReturnGiven]:
    """The rejected transactions of a pain.002 CustomerPaymentStatusReport."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise InvalidInputError(f"the file is not well-formed XML: {error}") from None
    if not _local(root.tag) == "Document" or _child(root, "CstmrPmtStsRpt") is None:
        raise InvalidInputError("the file is not a pain.002 CustomerPaymentStatusReport")
    transactions = _all(root, "TxInfAndSts")
    whole = [e for e in _all(root, "GrpSts") + _all(root, "PmtInfSts") if e.text == REJECTED]
    if whole and not transactions:
        raise InvalidInputError(
            "the report rejects a whole file or payment block without naming its "
            "transactions; ask the bank for a report with a TxInfAndSts per returned line"
        )
    found = []
    for number, transaction in enumerate(transactions):
        if _text(transaction, "TxSts") != REJECTED:
            continue
        where = f"TxInfAndSts[{number}]"
        try:
            month, case_id = parse_payment_id(
                _text(transaction, "OrgnlEndToEndId") or "", "OrgnlEndToEndId"
            )
            reason = _text(transaction, "StsRsnInf/Rsn/Cd") or _text(
                transaction, "StsRsnInf/Rsn/Prtry"
            )
            reference = (
                _text(transaction, "StsId")
                or _text(transaction, "AcctSvcrRef")
                or _text(transaction, "OrgnlInstrId")
                or ""
            )
            found.append(
                ReturnGiven(
                    month,
                    case_id,
                    checked_reference(reference, "StsId"),
                    checked_reason(reason or "", "StsRsnInf.Rsn.Cd"),
                )
            )
        except InvalidInputError as refusal:
            refusal.message = f"{where}: {refusal.message}"
            raise refusal from None
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ElementTree.Element, name: str) -> ElementTree.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _all(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _text(element: ElementTree.Element, path: str) -> str | None:
    """The text at ``path`` (local names joined by /) under ``element``, whatever the
    namespace of the pain.002 version."""
    current: ElementTree.Element | None = element
    for name in path.split("/"):
        if current is None:
            return None
        current = _child(current, name)
    return current.text.strip() if current is not None and current.text else None

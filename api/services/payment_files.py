"""A closed period's payment file for the bank: ISO 20022 pain.001.001.09 or CSV.

One credit transfer per payroll line that pays something (the month's amount plus arrears;
recoveries are collected otherwise and never netted), to the payee its case had as known
at the position read; held lines and lines of recoveries only are not in the file. Each
transfer's end-to-end id ties it to its line: the period's month and the case
(``payment_id``), which is what the bank's return names. The file's message id names the
period, its creation time is the close's record time, so the same period read at the same
position gives the same file, byte for byte.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID
from xml.etree import ElementTree

from api.core.settings import Settings
from domain.application.ledger import Ledger
from domain.cases.programmes import Programme
from domain.errors import InvalidInputError, NotFoundError, PayeeMissingError
from domain.money import ZERO
from domain.months import BUREAU_TIME_ZONE, Month
from projections.reads.period_accounts import Accounts
from projections.storage.database import ViewDatabase

PAIN_001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
CURRENCY = "CNY"
CLEARING_SYSTEM = "CNAPS"  # China National Advanced Payment System: the debtor bank's code
CSV_COLUMNS = (
    "record",
    "message_id",
    "end_to_end_id",
    "case_id",
    "recipient",
    "account",
    "currency",
    "amount",
    "arrears",
    "to_pay",
    "count",
    "control_sum",
)
MISSING_NAMED = 5  # cases without a payee named in a refusal


def payment_id(month: Month, case_id: UUID) -> str:
    """The end-to-end id of a case's line of a period: ``YYYYMM-`` and the case id in
    base 32 (33 characters; ISO 20022 allows 35)."""
    code = base64.b32encode(case_id.bytes).decode("ascii").rstrip("=")
    return f"{month.year:04d}{month.month:02d}-{code}"


def parse_payment_id(text: str, field: str) -> tuple[Month, UUID]:
    """The period's month and the case of an end-to-end id this ledger made."""
    head, _, code = text.strip().partition("-")
    try:
        if len(head) != 6 or len(code) != 26 or not head.isdigit():
            raise ValueError(text)
        month = Month.of(int(head[:4]), int(head[4:]))
        case_id = UUID(bytes=base64.b32decode(code.upper() + "======"))
    except ValueError:
        raise InvalidInputError(
            f"{text!r} is not an end-to-end id of this ledger's payment files (YYYYMM- and 26 "
            "letters and digits)",
            field=field,
        ) from None
    return month, case_id


@dataclass(frozen=True)
class Transfer:
    end_to_end_id: str
    case_id: UUID
    recipient: str
    account: str
    amount: Decimal
    arrears: Decimal

    @property
    def to_pay(self) -> Decimal:
        return self.amount + self.arrears


@dataclass(frozen=True)
class PaymentFile:
    programme: str
    region: str
    month: Month
    position: int  # the ledger position the payees were read at
    created: datetime  # the close's record time
    transfers: Sequence[Transfer]

    @property
    def message_id(self) -> str:
        return f"{self.programme}/{self.region}/{self.month}"

    @property
    def count(self) -> int:
        return len(self.transfers)

    @property
    def control_sum(self) -> Decimal:
        return sum((t.to_pay for t in self.transfers), ZERO)


def payment_file(
    ledger: Ledger, views: ViewDatabase, programme: str, region: str, month: Month, position: int
) -> PaymentFile:
    """The file of the closed period as known at ``position``; refused while a line to pay
    has a case without a payee."""
    if programme == Programme.TEMPORARY_RELIEF:
        raise InvalidInputError(
            "temporary relief is paid to the person at the office, not through a case's "
            "payee: it has no bank payment file",
            field="programme",
        )
    accounts = Accounts(views)
    periods = [p for p in accounts.periods(position, programme, region) if p.month == month]
    if not periods:
        raise NotFoundError(f"{programme} in {region} has no closed period {month}")
    lines = [line for line, _ in accounts.lines(programme, region, month) if line.to_pay > 0]
    if not lines:  # pain.001 carries at least one transfer
        raise NotFoundError(
            f"no line of {programme} {region} {month} pays anything: there is no payment file"
        )
    versions = _payee_versions(views, [line.subject_id for line in lines], position)
    missing = [line.subject_id for line in lines if line.subject_id not in versions]
    if missing:
        named = ", ".join(missing[:MISSING_NAMED])
        more = f" and {len(missing) - MISSING_NAMED} more" if len(missing) > MISSING_NAMED else ""
        raise PayeeMissingError(
            f"{len(missing)} line(s) of {programme} {region} {month} have no payee: case "
            f"{named}{more}; record their payees first"
        )
    transfers = []
    for line in lines:
        case_id = UUID(line.subject_id)
        case = ledger.case(case_id, versions[line.subject_id])
        payee = case.payee
        if payee is None:  # the views said the version set one
            raise PayeeMissingError(f"case {case_id} has no payee at version {case.version}")
        names = {p["reference"]: p["name"] for p in case.persons}
        transfers.append(
            Transfer(
                payment_id(month, case_id),
                case_id,
                names[payee.recipient].reveal(),
                payee.account.reveal(),
                line.amount,
                line.arrears,
            )
        )
    return PaymentFile(
        programme, region, month, position, _recorded_at(views, periods[0].closed_at), transfers
    )


def _payee_versions(views: ViewDatabase, subjects: Sequence[str], position: int) -> dict[str, int]:
    """The version of each case's latest payee decision known at ``position``."""
    versions: dict[str, int] = {}
    for start in range(0, len(subjects), 500):
        chunk = subjects[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for subject_id, version in views.fetchall(
            f"SELECT subject_id, MAX(version) FROM payees WHERE subject_id IN ({marks})"
            " AND known_from <= ? GROUP BY subject_id",
            (*chunk, position),
        ):
            versions[str(subject_id)] = int(version)
    return versions


def _recorded_at(views: ViewDatabase, position: int) -> datetime:
    rows = views.fetchall("SELECT recorded_at_us FROM positions WHERE position = ?", (position,))
    return datetime.fromtimestamp(int(rows[0][0]) / 1_000_000, UTC).replace(microsecond=0)


def pain_001(file: PaymentFile, settings: Settings) -> bytes:
    """The file as a pain.001.001.09 CustomerCreditTransferInitiation: one payment
    information block for the period, its transfers in case order."""
    ElementTree.register_namespace("", PAIN_001)

    def add(parent: ElementTree.Element, tag: str, text: str | None = None) -> ElementTree.Element:
        child = ElementTree.SubElement(parent, f"{{{PAIN_001}}}{tag}")
        if text is not None:
            child.text = text
        return child

    def path(parent: ElementTree.Element, tags: str, text: str) -> None:
        *outer, last = tags.split("/")
        for tag in outer:
            parent = add(parent, tag)
        add(parent, last, text)

    document = ElementTree.Element(f"{{{PAIN_001}}}Document")
    initiation = add(document, "CstmrCdtTrfInitn")
    header = add(initiation, "GrpHdr")
    add(header, "MsgId", file.message_id)
    add(header, "CreDtTm", file.created.isoformat().replace("+00:00", "Z"))
    add(header, "NbOfTxs", str(file.count))
    add(header, "CtrlSum", f"{file.control_sum:.2f}")
    path(header, "InitgPty/Nm", settings.payer_name)
    block = add(initiation, "PmtInf")
    add(block, "PmtInfId", file.message_id)
    add(block, "PmtMtd", "TRF")
    add(block, "NbOfTxs", str(file.count))
    add(block, "CtrlSum", f"{file.control_sum:.2f}")
    execution = file.created.astimezone(BUREAU_TIME_ZONE).date()
    path(block, "ReqdExctnDt/Dt", execution.isoformat())
    path(block, "Dbtr/Nm", settings.payer_name)
    path(block, "DbtrAcct/Id/Othr/Id", settings.payer_account)
    agent = add(add(add(block, "DbtrAgt"), "FinInstnId"), "ClrSysMmbId")
    path(agent, "ClrSysId/Cd", CLEARING_SYSTEM)
    add(agent, "MmbId", settings.payer_bank)
    add(block, "ChrgBr", "DEBT")  # the bureau bears the charges: the recipient gets it all
    for transfer in file.transfers:
        item = add(block, "CdtTrfTxInf")
        path(item, "PmtId/EndToEndId", transfer.end_to_end_id)
        amount = add(add(item, "Amt"), "InstdAmt", f"{transfer.to_pay:.2f}")
        amount.set("Ccy", CURRENCY)
        path(item, "Cdtr/Nm", transfer.recipient)
        path(item, "CdtrAcct/Id/Othr/Id", transfer.account)
        path(item, "RmtInf/Ustrd", _remittance(file, transfer))
    ElementTree.indent(document)
    written: bytes = ElementTree.tostring(document, encoding="utf-8", xml_declaration=True)
    return written


def _remittance(file: PaymentFile, transfer: Transfer) -> str:
    text = f"{file.programme} {file.month}: {transfer.amount:.2f}"
    if transfer.arrears:
        text += f" + arrears {transfer.arrears:.2f}"
    return text


def payments_csv(file: PaymentFile) -> str:
    """The file as CSV: a row per transfer (``record`` = transfer), then a control row with
    the count and the control sum."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for t in file.transfers:
        writer.writerow(
            (
                "transfer",
                file.message_id,
                t.end_to_end_id,
                t.case_id.hex,
                t.recipient,
                t.account,
                CURRENCY,
                f"{t.amount:.2f}",
                f"{t.arrears:.2f}",
                f"{t.to_pay:.2f}",
                "",
                "",
            )
        )
    control = ("control", file.message_id, "", "", "", "", CURRENCY, "", "", "")
    writer.writerow((*control, str(file.count), f"{file.control_sum:.2f}"))
    return out.getvalue()

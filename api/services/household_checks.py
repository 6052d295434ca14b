"""Household economic verifications: the data a verification or a request for one takes,
and the Ledger commands they make.

The HTTP service, the import and the platform's outbox (``api.services.verification_platform``)
record verifications through these functions, so a request body, a line of a decisions file
and a platform's answer mean the same command. (``api.services.verification`` is another
matter: the audit's verification of the chain and the digests.)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from api.services.fields import Body, IdentityNumberText, MoneyText
from domain.application.ledger import Ledger
from domain.application.recording import Receipt, UnitOfWork
from domain.errors import InvalidInputError
from domain.verification.rules import household_total, per_capita

SourceName = Literal[
    "wages",
    "pensions",
    "real-estate",
    "vehicles",
    "deposits-and-securities",
    "business-registration",
    "provident-fund",
]
PlatformLevelName = Literal["ministry", "province", "city"]
ReportId = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
]


class VerifiedMember(Body):
    identity_number: Annotated[
        IdentityNumberText, Field(description="18-character resident identity number")
    ]
    income: MoneyText = Field(description="verified monthly income of the member, in yuan")


class VerificationIn(Body):
    """A verification the platform answered: every member of the household with their
    verified monthly income, what was checked, when, by which platform, under which report."""

    members: list[VerifiedMember] = Field(min_length=1, max_length=30)
    case_id: UUID | None = Field(
        default=None, description="the household's case, for a re-verification (a review)"
    )
    sources: list[SourceName] = Field(
        min_length=1, max_length=7, description="the sources the platform checked"
    )
    made_on: date = Field(description="the day the platform made the check")
    level: PlatformLevelName = Field(description="the platform that answered")
    report_id: ReportId = Field(description="the platform's report id")
    total_income: MoneyText | None = Field(
        default=None, description="as the report states it; checked against the members'"
    )
    per_capita_income: MoneyText | None = Field(
        default=None,
        description="as the report states it; checked against the members' total over their "
        "number, rounded half up to the fen",
    )


class VerificationRequestIn(Body):
    """A household to verify: its members' identity numbers, and its case when it has one."""

    identity_numbers: list[IdentityNumberText] = Field(min_length=1, max_length=30)
    case_id: UUID | None = None


def record_verification(
    ledger: Ledger,
    data: VerificationIn,
    *,
    actor: str,
    uow: UnitOfWork,
    verification_id: UUID | None = None,
) -> Receipt:
    incomes = [Decimal(member.income) for member in data.members]
    for field, stated, computed in (
        ("total_income", data.total_income, household_total(incomes)),
        ("per_capita_income", data.per_capita_income, per_capita(incomes)),
    ):
        if stated is not None and Decimal(stated) != computed:
            raise InvalidInputError(
                f"{field} {stated} is not what the members' incomes make ({computed})",
                field=field,
            )
    return ledger.record_verification(
        [(member.identity_number, member.income) for member in data.members],
        sources=list(data.sources),
        made_on=data.made_on,
        level=data.level,
        report_id=data.report_id,
        actor=actor,
        case_id=data.case_id,
        verification_id=verification_id,
        uow=uow,
    )


def request_verification(
    ledger: Ledger, data: VerificationRequestIn, *, actor: str, uow: UnitOfWork
) -> Receipt:
    return ledger.request_verification(
        data.identity_numbers, actor=actor, case_id=data.case_id, uow=uow
    )

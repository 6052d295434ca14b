"""The field types of a decision, shared by the HTTP bodies and the decisions file.

A region code, a month, an amount of money, a person or a reason is checked the same way
whether it comes in a request or in a line of an import. Money travels as a decimal string
with at most two places ("1200.00"), never a float.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.cases.programmes import Programme

MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
TEXT_PATTERN = (
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # no control characters but tab and line breaks
)

MonthText = Annotated[str, StringConstraints(pattern=MONTH_PATTERN), Field(examples=["2020-07"])]
MoneyText = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,9}(\.[0-9]{1,2})?$"),
    Field(description="Yuan, at most two decimal places", examples=["1200.00"]),
]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$"), Field(examples=["410611"])]
IdentityNumberText = Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$")]
Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, strip_whitespace=True, pattern=TEXT_PATTERN),
]
AnyProgramme = Annotated[Programme, Field(examples=["dibao-urban"])]
CaseProgramme = Literal[
    "dibao-urban",
    "dibao-rural",
    "tekun",
    "elderly-allowance",
    "disability-living",
    "disability-nursing",
    "orphan",
]
ParameterName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
Area = Literal["urban", "rural"]
Tier = Literal["self", "partial", "full"]
Care = Literal["institutional", "dispersed"]
ReliefKind = Literal["emergency", "expenditure"]
ReviewOutcome = Literal["confirmed", "rescinded"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(Body):
    identity_number: Annotated[
        IdentityNumberText,
        Field(description="18-character resident identity number (GB 11643)"),
    ]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    birth_date: date | None = Field(
        default=None, description="When given, must match the identity number"
    )


class CaseChanges(Body):
    income: MoneyText | None = None
    area: Area | None = None
    tier: Tier | None = None
    grade: int | None = Field(default=None, ge=1, le=4)
    care: Care | None = None
    members_joining: list[PersonIn] | None = Field(
        default=None,
        min_length=1,
        max_length=30,
        description="dibao: persons who join the household from the effective month",
    )
    members_leaving: list[IdentityNumberText] | None = Field(
        default=None,
        min_length=1,
        max_length=30,
        description="dibao: identity numbers of members who leave from the effective month",
    )

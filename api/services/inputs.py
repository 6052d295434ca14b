"""What every way in accepts: a month, an amount of money, a region, a person, a case's changes.

The HTTP bodies (api/http/schemas.py) and the lines of a decisions file
(api/services/import_format.py) are built from these, so a decision validates the same
way whichever door it comes through. Money travels as a decimal string with at most two
places ("1200.00"), never a float.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MonthText = Annotated[
    str,
    StringConstraints(pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"),
    Field(examples=["2020-07"]),
]
MoneyText = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,9}(\.[0-9]{1,2})?$"),
    Field(description="Yuan, at most two decimal places", examples=["1200.00"]),
]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$"), Field(examples=["410611"])]
Area = Literal["urban", "rural"]
CaseProgramme = Literal[
    "dibao-urban",
    "dibao-rural",
    "tekun",
    "elderly-allowance",
    "disability-living",
    "disability-nursing",
    "orphan",
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(Body):
    identity_number: Annotated[
        str,
        StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$"),
        Field(description="18-character resident identity number (GB 11643)"),
    ]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    birth_date: date | None = Field(
        default=None, description="When given, must match the identity number"
    )


class CaseChanges(Body):
    income: MoneyText | None = None
    area: Area | None = None
    tier: Literal["self", "partial", "full"] | None = None
    grade: int | None = Field(default=None, ge=1, le=4)
    care: Literal["institutional", "dispersed"] | None = None

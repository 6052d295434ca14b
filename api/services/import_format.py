"""The decisions file: JSON Lines, one decision per line, in the order they were made.

Each line names its ``decision``, the original time ``at`` (with its time zone, never
earlier than the line before), the ``actor`` and, where the decision has one, the ``reason``.
Cases and reliefs are named by a key of the file's own (``case``, ``relief``), from which
their ids are derived, so later lines can refer to them. docs/import-format.md lists every
kind of line with an example.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from api.services.inputs import (
    Area,
    CaseChanges,
    CaseProgramme,
    MoneyText,
    MonthText,
    PersonIn,
    RegionCode,
)

Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]

_KEY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:social-assistance-ledger:import-keys")


def key_id(kind: str, key: str) -> UUID:
    """The id of the case or relief a file names ``key``."""
    return uuid5(_KEY_NAMESPACE, f"{kind}:{key}")


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    actor: Text


class SetStandard(Line):
    decision: Literal["set_standard", "correct_standard"]
    programme: Annotated[str, StringConstraints(max_length=40)]
    region: RegionCode
    effective: MonthText
    parameters: dict[Annotated[str, StringConstraints(max_length=40)], MoneyText]
    reason: Text


class Grant(Line):
    decision: Literal["grant"]
    case: Key
    programme: CaseProgramme
    region: RegionCode
    effective: MonthText
    persons: list[PersonIn] = Field(min_length=1, max_length=30)
    income: MoneyText | None = None
    area: Area | None = None
    tier: Literal["self", "partial", "full"] | None = None
    grade: int | None = Field(default=None, ge=1, le=4)
    care: Literal["institutional", "dispersed"] | None = None
    reason: Text


class Reassess(Line):
    decision: Literal["reassess"]
    case: Key
    effective: MonthText
    changes: CaseChanges
    reason: Text


class DatedCaseDecision(Line):
    decision: Literal["suspend", "resume", "exit"]
    case: Key
    effective: MonthText
    reason: Text


class GradualExit(Line):
    decision: Literal["gradual_exit"]
    case: Key
    effective: MonthText
    months: int = Field(ge=1, le=12)
    reason: Text


class Rescission(Line):
    decision: Literal["request_rescission", "approve_rescission"]
    case: Key
    reason: Text


class GrantRelief(Line):
    decision: Literal["grant_relief"]
    relief: Key
    region: RegionCode
    area: Area
    kind: Literal["emergency", "expenditure"]
    relief_date: date
    household_size: int = Field(ge=1, le=30)
    amount: MoneyText
    person: PersonIn
    reason: Text


class ApproveRelief(Line):
    decision: Literal["approve_relief"]
    relief: Key
    reason: Text


class ReviewRelief(Line):
    decision: Literal["review_relief"]
    relief: Key
    outcome: Literal["confirmed", "rescinded"]
    reason: Text


class ClosePeriod(Line):
    decision: Literal["close_period"]
    programme: Annotated[str, StringConstraints(max_length=40)]
    region: RegionCode
    month: MonthText


Decision = Annotated[
    SetStandard
    | Grant
    | Reassess
    | DatedCaseDecision
    | GradualExit
    | Rescission
    | GrantRelief
    | ApproveRelief
    | ReviewRelief
    | ClosePeriod,
    Field(discriminator="decision"),
]

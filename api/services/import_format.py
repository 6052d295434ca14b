"""The decisions file: JSON Lines, one decision per line, in the order they were made.

Each line names its ``decision``, the original time ``at`` (with its time zone, never
earlier than the line before), the ``actor`` and, where the decision has one, the ``reason``.
Cases and reliefs are named by a key of the file's own (``case``, ``relief``), from which
their ids are derived, so later lines can refer to them. docs/import-format.md lists every
kind of line with an example.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from api.services import decisions, household_checks
from api.services.fields import AnyProgramme, MonthText, RegionCode

Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]

_KEY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:social-assistance-ledger:import-keys")


def key_id(kind: str, key: str) -> UUID:
    """The id of the case, relief or verification a file names ``key``."""
    return uuid5(_KEY_NAMESPACE, f"{kind}:{key}")


class Line(BaseModel):
    """What every line has; each kind adds its decision's data, as an HTTP request gives it,
    and the keys or names of what it is about."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    actor: Text


class SetStandard(Line, decisions.StandardIn):
    decision: Literal["set_standard", "correct_standard"]
    programme: AnyProgramme
    region: RegionCode


class Grant(Line, decisions.CaseGrant):
    decision: Literal["grant"]
    case: Key
    verification: Key | None = None  # the key of a verify_household line before it


class Reassess(Line, decisions.Reassessment):
    decision: Literal["reassess"]
    case: Key
    verification: Key | None = None


class VerifyHousehold(Line, household_checks.VerificationIn):
    """A household economic verification as the platform answered it; ``case`` names the
    household's case for a re-verification."""

    decision: Literal["verify_household"]
    verification: Key
    case: Key | None = None


class DatedCaseDecision(Line, decisions.DatedDecision):
    decision: Literal["suspend", "resume", "exit"]
    case: Key


class GradualExit(Line, decisions.GradualExit):
    decision: Literal["gradual_exit"]
    case: Key


class Rescission(Line, decisions.Reasoned):
    decision: Literal["request_rescission", "approve_rescission"]
    case: Key


class GrantRelief(Line, decisions.ReliefIn):
    decision: Literal["grant_relief"]
    relief: Key


class ApproveRelief(Line, decisions.Reasoned):
    decision: Literal["approve_relief"]
    relief: Key


class ReviewRelief(Line, decisions.ReliefReview):
    decision: Literal["review_relief"]
    relief: Key


class ChangePayee(Line, decisions.PayeeChange):
    decision: Literal["change_payee"]
    case: Key


class ReturnPayment(Line):
    """The bank's return of a case's line of a closed period (``month``)."""

    decision: Literal["return_payment"]
    case: Key
    month: MonthText
    bank_reference: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    reason_code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{4}$")]


class ClosePeriod(Line):
    decision: Literal["close_period"]
    programme: AnyProgramme
    region: RegionCode
    month: MonthText


Decision = Annotated[
    SetStandard
    | Grant
    | Reassess
    | VerifyHousehold
    | DatedCaseDecision
    | GradualExit
    | Rescission
    | GrantRelief
    | ApproveRelief
    | ReviewRelief
    | ChangePayee
    | ReturnPayment
    | ClosePeriod,
    Field(discriminator="decision"),
]

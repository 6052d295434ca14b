"""Every refusal the ledger can give, each named for the rule it enforces.

A refused command raises one of these before anything is saved, so the ledger's position
does not move. The message is written for the caseworker who made the request; ``field``
names the input at fault as the command's own arguments name it (``income``,
``persons[1].identity_number``), and a conflict says what it conflicts with.
"""

from __future__ import annotations

from typing import Self


class LedgerRefusal(Exception):  # noqa: N818  (a refusal, not a fault)
    """A command the ledger refuses; nothing was recorded."""

    status = "refused"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def within(self, prefix: str) -> Self:
        """This refusal, its field named inside ``prefix``: ``identity_number`` refused for
        the second person of a list becomes ``persons[1].identity_number``."""
        self.field = f"{prefix}.{self.field}" if self.field else prefix
        return self


class InvalidInputError(LedgerRefusal):
    """The request itself is malformed: a field is missing, out of range or inconsistent."""

    status = "invalid"


class InvalidIdentityNumberError(InvalidInputError):
    """A resident identity number fails GB 11643, or disagrees with the birth date given."""


class ImplausibleBirthDateError(InvalidIdentityNumberError):
    """A birth date after the decision, or of someone older than the oldest people living."""


class UnknownRegionError(InvalidInputError):
    """The region code is not in the catalogue."""


class EffectiveMonthError(InvalidInputError):
    """The effective month is later than the month after the current one."""


class StandardNotInForceError(InvalidInputError):
    """No standard is in force for the programme, region and month."""


class IncomeAboveStandardError(InvalidInputError):
    """A dibao grant whose per-capita income is at or above the standard."""


class NotEligibleError(InvalidInputError):
    """The person does not meet the programme's age or grade conditions."""


class VerificationRequiredError(InvalidInputError):
    """A dibao or tekun decision that cites no answered household verification."""


class VerificationHouseholdError(InvalidInputError):
    """The verification cited covers another household than the decision's."""


class StaleVerificationError(InvalidInputError):
    """The verification cited was made too long before the decision, or after it."""


class IncomeDiffersFromVerificationError(InvalidInputError):
    """A declared income beyond the margin around the verified one, with no reason given."""


class ConflictError(LedgerRefusal):
    """The request is well formed but the ledger's state forbids it."""

    status = "conflict"


class StandardNotRaisedError(ConflictError):
    """A StandardSet that would lower a parameter, or not raise any over an entry it replaces."""


class ConcurrentDecisionError(ConflictError):
    """Another decision about the same case or person was recorded first; try again."""


class ExclusiveHoldingError(ConflictError):
    """The person already holds a case that excludes the one requested."""


class CaseStateError(ConflictError):
    """The case's history forbids the decision (not open, suspended, exited, rescinded)."""


class RecordTimeError(ConflictError):
    """An imported decision's original time is earlier than the latest stored one."""


class FourEyesError(ConflictError):
    """A second approval by the same person who made the request, or without the role."""


class NotFoundError(LedgerRefusal):
    """No case, relief or schedule with that identifier."""

    status = "not_found"


class InvalidBankAccountError(InvalidInputError):
    """A payee's bank card number fails its length or check-digit rule."""


class PaymentReturnError(ConflictError):
    """A bank's return the ledger cannot take: of a period not closed, of a held line, of a
    case not paid in that period."""


class PeriodNotClosedError(PaymentReturnError):
    """A return of a period that is not closed: nothing of it went to the bank."""


class HeldLineError(PaymentReturnError):
    """A return of a line that was held: it sent nothing to the bank."""


class NotInPeriodError(PaymentReturnError):
    """A return of a case with nothing to pay in that period."""


class PayeeMissingError(ConflictError):
    """A line to pay whose case has no payee: a bank's payment file cannot carry it."""

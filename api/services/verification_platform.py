"""The household economic verification platform, outside the ledger, and the outbox that
asks it.

A caseworker's request (``POST /verification-requests``) is stored as an event at once, so
it is never lost and a decision that needs no verification never waits for the platform.
The outbox (``ledger verify-households``) sends each request still unanswered to the
platform, ``POST {platform}/verifications`` with the request's id and the members' identity
numbers, and records the answer as the verification's event when it comes. A platform that
is down, slow (past the timeout) or answering with an error is asked again later, each
request waiting twice as long as before up to a ceiling; a worker started again asks at
once. The platform answers the same request id with the same report, so a request sent
twice is answered once; an answer already recorded is not recorded again.

The platform's answer, as JSON::

    {"report_id": "HB-2026-000123", "level": "city", "made_on": "2026-11-28",
     "sources": ["wages", "pensions", ...],
     "members": [{"identity_number": "...", "income": "350.00"}, ...]}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol
from uuid import UUID

import httpx2
from pydantic import BaseModel, ValidationError

from api.services.household_checks import PlatformLevelName, ReportId, SourceName, VerifiedMember
from domain.application.ledger import Ledger
from domain.application.recording import SaveNow
from domain.errors import CaseStateError, LedgerRefusal
from projections.reads.read_side import ReadSide

log = logging.getLogger("ledger.verification_platform")

PLATFORM_ACTOR = "verification-platform"
BATCH = 100


class PlatformAnswer(BaseModel):
    report_id: ReportId
    level: PlatformLevelName
    made_on: date
    sources: list[SourceName]
    members: list[VerifiedMember]


class PlatformUnavailableError(Exception):
    """The platform did not answer usefully this time (down, too slow, an error, an answer
    that could not be read); the request stays in the outbox. The reason never holds
    personal data."""


class VerificationPlatform(Protocol):
    def verify(self, request_id: UUID, identity_numbers: Sequence[str]) -> PlatformAnswer:
        """The platform's answer for the household, or ``PlatformUnavailableError``."""


class HttpVerificationPlatform:
    """The platform over HTTP (``LEDGER_VERIFICATION_PLATFORM_URL``), each call bounded by
    the timeout."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._client = httpx2.Client(base_url=url.rstrip("/"), timeout=timeout_seconds)

    def verify(self, request_id: UUID, identity_numbers: Sequence[str]) -> PlatformAnswer:
        try:
            response = self._client.post(
                "/verifications",
                json={"request_id": str(request_id), "identity_numbers": list(identity_numbers)},
            )
        except httpx2.TimeoutException:
            raise PlatformUnavailableError("no answer within the timeout") from None
        except httpx2.HTTPError as error:
            raise PlatformUnavailableError(f"unreachable ({type(error).__name__})") from None
        if response.status_code != 200:
            raise PlatformUnavailableError(f"answered HTTP {response.status_code}")
        try:
            return PlatformAnswer.model_validate_json(response.content)
        except ValidationError:
            raise PlatformUnavailableError(
                "answered with a report that could not be read"
            ) from None

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before asking again after ``attempts`` failures."""

    first: float = 2.0
    ceiling: float = 600.0

    def delay(self, attempts: int) -> float:
        return float(min(self.ceiling, self.first * 2 ** (attempts - 1)))


@dataclass(frozen=True)
class OutboxRound:
    """What one round of the outbox did: requests answered, and still waiting."""

    answered: int
    waiting: int


@dataclass
class _Retry:
    attempts: int
    next_at: float


@dataclass
class VerificationOutbox:
    """Sends unanswered verification requests to the platform and records the answers."""

    ledger: Ledger
    read_side: ReadSide
    platform: VerificationPlatform
    catch_up: Callable[[], object]  # brings the views up to the ledger's position
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    _retries: dict[str, _Retry] = field(default_factory=dict)

    def send_due(self) -> OutboxRound:
        """Ask the platform once for each unanswered request whose wait is over."""
        self.catch_up()
        pending = self.read_side.unanswered_verifications(self.read_side.position, BATCH)
        answered = 0
        for verification_id in pending:
            retry = self._retries.get(verification_id)
            if retry is not None and retry.next_at > self.clock():
                continue
            if self._send(UUID(verification_id)):
                answered += 1
                self._retries.pop(verification_id, None)
            else:
                attempts = retry.attempts + 1 if retry is not None else 1
                wait = self.backoff.delay(attempts)
                self._retries[verification_id] = _Retry(attempts, self.clock() + wait)
        return OutboxRound(answered, len(pending) - answered)

    def _send(self, verification_id: UUID) -> bool:
        """Whether the request is answered now (by this call or an earlier one)."""
        verification = self.ledger.verification(verification_id)
        if verification.answer is not None:
            return True
        numbers = [member["identity_number"].reveal() for member in verification.members]
        try:
            answer = self.platform.verify(verification_id, numbers)
        except PlatformUnavailableError as error:
            log.warning(
                "verification %s: the platform %s; asked again later", verification_id, error
            )
            return False
        try:
            self.ledger.answer_verification(
                verification_id,
                [(member.identity_number, member.income) for member in answer.members],
                sources=list(answer.sources),
                made_on=answer.made_on,
                level=answer.level,
                report_id=answer.report_id,
                actor=PLATFORM_ACTOR,
                uow=SaveNow(self.ledger),
            )
        except CaseStateError:
            return True  # answered meanwhile, by another worker or out of band
        except LedgerRefusal as refusal:
            # Logged without its detail, which may name a member's figures.
            log.error(
                "verification %s: the platform's report %s was refused (%s); asked again later",
                verification_id,
                answer.report_id,
                type(refusal).__name__,
            )
            return False
        return True

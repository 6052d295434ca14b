"""The approvers' queue: what waits for a second person, as known at any ledger position.

A relief asked for above its cap, and a rescission requested, wait until another person
approves them. Each request is a row of the ``approvals`` view from the position that
recorded it (``known_from``) to the position that approved it (``known_to``, NULL while it
waits), so the queue as known at position K is the rows whose record interval holds K.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from projections.storage.database import ViewDatabase


class Awaiting(StrEnum):
    """What a request asks the approver to approve."""

    RELIEF = "relief"  # a temporary relief above its cap
    RESCISSION = "rescission"  # a case to be voided from its start


@dataclass(frozen=True)
class ApprovalRequest:
    """A request waiting for approval, as the projection records it."""

    subject_id: str  # the relief or the case
    what: Awaiting
    programme: str
    region: str
    requested_by: str
    requested_at: datetime
    reason: str
    amount: Decimal | None = None  # a relief's amount and cap
    cap: Decimal | None = None


@dataclass(frozen=True)
class PendingApproval:
    request: ApprovalRequest
    position: int  # the ledger position that recorded the request


def _fen(amount: Decimal | None) -> int | None:
    return None if amount is None else int(amount * 100)


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def approval_row(request: ApprovalRequest, position: int) -> tuple[object, ...]:
    """The ``approvals`` row of a request recorded at ``position``."""
    return (
        request.subject_id,
        request.what.value,
        request.programme,
        request.region,
        request.requested_by,
        request.requested_at.isoformat(),
        request.reason,
        _fen(request.amount),
        _fen(request.cap),
        position,
    )


APPROVAL_COLUMNS = (
    "subject_id",
    "what",
    "programme",
    "region",
    "requested_by",
    "requested_at",
    "reason",
    "amount_fen",
    "cap_fen",
    "known_from",
)


def pending_approvals(
    views: ViewDatabase, position: int, region: str | None = None
) -> list[PendingApproval]:
    """The requests waiting for approval as known at ``position``, oldest first."""
    where = "known_from <= ? AND (known_to IS NULL OR known_to > ?)"
    params: list[object] = [position, position]
    if region is not None:
        where += " AND region = ?"
        params.append(region)
    rows = views.fetchall(
        f"SELECT {', '.join(APPROVAL_COLUMNS)} FROM approvals WHERE {where} "
        "ORDER BY known_from, subject_id",
        params,
    )
    return [
        PendingApproval(
            ApprovalRequest(
                subject_id,
                Awaiting(what),
                programme,
                region_,
                requested_by,
                datetime.fromisoformat(requested_at),
                reason,
                _yuan(amount_fen),
                _yuan(cap_fen),
            ),
            int(known_from),
        )
        for (
            subject_id,
            what,
            programme,
            region_,
            requested_by,
            requested_at,
            reason,
            amount_fen,
            cap_fen,
            known_from,
        ) in rows
    ]

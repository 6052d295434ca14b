"""Closing a payroll period: a command that reads the views first.

The period's lines are computed from the views once they have reached everything stored,
at that position P. What they settle (arrears and recoveries) is what changed since the
programme's and region's last close as the ledger's unit of work sees it, not as the views
do: within an import batch, a close decided earlier in the batch counts though the views
do not hold it yet, so no change is settled twice. The ledger checks the lines, and that
they were computed after its last close, and records the close.
"""

from __future__ import annotations

from domain.application.ledger import Ledger
from domain.application.recording import Receipt, UnitOfWork
from domain.months import Month
from projections.reads.payroll_lines import (
    ComputedItems,
    PriorClose,
    lines_of,
    payroll_items_after,
)
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase


def close_period(
    ledger: Ledger,
    views: ViewDatabase,
    programme: str,
    region: str,
    month: Month,
    *,
    actor: str,
    uow: UnitOfWork | None = None,
    timeout: float = 10.0,
    computed: ComputedItems | None = None,
    views_at: int | None = None,
) -> Receipt:
    """Compute the period's lines from the views and have the ledger check and record the
    close, through ``uow`` (by default saved now, by the server's clock). The items are
    kept in ``computed``, if given, for the projector that will record the close.
    ``views_at``: the position the caller projected the views to, with nothing stored
    after it (an import between its saves); by default the ledger's, once the views reach
    it."""
    position = (
        views_at if views_at is not None else ReadSide(views).wait_for(ledger.position, timeout)
    )
    last = ledger.last_close(programme, region, uow)
    prior = PriorClose(last.first_month, last.position) if last is not None else None
    with views.reading() as reader:
        items = payroll_items_after(reader, programme, region, month, position, prior)
    if computed is not None:
        computed.keep((programme, region, month, position, prior), items)
    return ledger.close_period(
        programme,
        region,
        month,
        position,
        lines_of(items),
        previous=last.month if last is not None else None,
        actor=actor,
        uow=uow,
    )

"""Verify the ledger: its audit chain, every closed period's digest, every closed month's balance.

One composition for every entry point that verifies (``ledger verify``, ``GET
/audit/verification``, ``ledger demo``), so that they cannot come to check different things.
Each entry point says the result in its own words.

The chain is walked in this thread while the closed months are summed in another (their
time is the database's, with the GIL released) and the signatures are checked in worker
processes. A verification that passes leaves a signed checkpoint at its head, when the
installation holds the signing key: the next one checks only the signatures after it,
unless asked for a full one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from domain.application.ledger import Ledger
from projections.reads import audit_chain
from projections.reads.checkpointing import Checkpointer
from projections.reads.period_accounts import Accounts, MonthAccount, Period
from projections.storage.checkpoints import Checkpoint
from projections.storage.database import ViewDatabase


@dataclass(frozen=True)
class Verification:
    """The audit chain recomputed from the events, and the closed periods and months as known
    at the position the views were read at."""

    chain: audit_chain.Verification
    periods: list[Period]  # every closed period, with its lines' digest recomputed
    months: list[MonthAccount]  # every closed month

    @property
    def wrong_digests(self) -> list[Period]:
        """The periods whose lines, recomputed at their close's position, differ from the
        recorded digest."""
        return [period for period in self.periods if not period.digest_matches]

    @property
    def unbalanced(self) -> list[MonthAccount]:
        """The months where entitled is not paid + settled + outstanding."""
        return [month for month in self.months if not month.balances]

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.wrong_digests and not self.unbalanced


def verify(
    ledger: Ledger,
    views: ViewDatabase,
    position: int,
    expected_head: audit_chain.Head | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    progress: Callable[[int], None] = lambda _: None,
    *,
    full: bool = False,
    mark: Checkpointer | None = None,
    processes: int | None = None,
) -> Verification:
    """Recompute the audit chain from every stored event, checking the signatures after the
    latest signed checkpoint (every one when ``full``), and compare it with the signed
    checkpoints stored and ``checkpoints`` exported earlier, and with ``expected_head``,
    when given; check the periods and months closed as known at ``position``, the position
    the views have reached. ``progress`` is told the position the chain's recomputation
    has reached, now and then. When everything verifies, ``mark`` (the installation's
    checkpointer, if it signs) leaves a checkpoint at the head."""
    accounts = Accounts(views)
    with ThreadPoolExecutor(1, thread_name_prefix="closed-months") as summing:
        months = summing.submit(accounts.closed_months, position)
        chain = audit_chain.verify(
            ledger.recorder,
            ledger.mapper,
            views,
            expected_head,
            progress,
            checkpoints=checkpoints,
            full=full,
            processes=processes,
        )
        result = Verification(chain, accounts.periods(position), months.result())
    if result.ok and mark is not None and chain.events:
        mark.sign_verified(chain.head, chain.events)
    return result

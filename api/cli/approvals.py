"""For approvers: what waits for a second person's approval."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import click

from api.cli.opening import open_ledger
from api.cli.options import (
    known_options,
    known_position,
    output_options,
    read_known,
    region_names,
    write_rows,
)
from api.cli.tables import Format, Report
from domain.errors import LedgerRefusal
from projections.reads.approvals import pending_approvals


@click.command()
@click.option("--region", help="Only requests of this region (a six-digit code).")
@known_options
@output_options
def approvals(
    region: str | None,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """Reliefs above their cap and requested rescissions waiting for a second person's
    approval, oldest first, with who requested each, when and why. Approve them over HTTP
    (POST /reliefs/ID/approvals, POST /cases/ID/rescission-approvals), never as the person
    who requested them.

    Example: ledger approvals --region 410611 --known-at 2020-05-31
    """
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        if region is not None:
            try:
                runtime.ledger.regions.check(region)
            except LedgerRefusal as refusal:
                raise click.BadParameter(refusal.message, param_hint="--region") from None
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        found = pending_approvals(runtime.views, position, region)
        named = region_names(runtime)
    rows = [
        (
            p.request.what.value,
            str(UUID(p.request.subject_id)),
            p.request.programme,
            p.request.region,
            named(p.request.region),
            p.request.amount,
            p.request.cap,
            p.request.requested_by,
            p.request.requested_at.isoformat(timespec="seconds"),
            p.position,
            p.request.reason,
        )
        for p in found
    ]
    headers = [
        "what",
        "id",
        "programme",
        "region",
        "region_name",
        "amount",
        "cap",
        "requested_by",
        "requested_at",
        "position",
        "reason",
    ]
    title = f"{len(rows)} requests waiting for approval, as known at position {position}"
    write_rows(Report(headers, rows, position, title=title), fmt, output, "approvals")


COMMANDS = (approvals,)

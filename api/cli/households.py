"""For caseworkers and operators: household reviews due, candidates for exit, and the worker
that sends verification requests to the platform."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import click

from api.cli.opening import open_ledger
from api.cli.options import (
    as_of_option,
    known_options,
    known_position,
    output_options,
    read_known,
    read_month,
    write_rows,
)
from api.cli.tables import Format, Report
from api.services.verification_platform import (
    HttpVerificationPlatform,
    VerificationOutbox,
)


@click.command()
@as_of_option
@click.option(
    "--exit-candidates",
    is_flag=True,
    help="Instead, the cases whose last verification found the income at or above the "
    "standard: candidates for a gradual exit.",
)
@known_options
@output_options
def reviews(
    as_of: str,
    exit_candidates: bool,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format | None,
    output: Path | None,
) -> None:
    """Dibao and tekun cases due for re-verification in a month, or overdue.

    Example: ledger reviews --as-of 2026-12
    """
    month = read_month(as_of)
    known = read_known(known_at, known_at_position)
    with open_ledger() as runtime:
        runtime.projector.catch_up()
        position = known_position(runtime, known)
        found = runtime.read_side.household_reviews(
            month, position, exit_candidates=exit_candidates
        )
    rows = [
        (
            r.case_id,
            r.programme,
            r.region,
            str(r.verified_on) if r.verified_on else "never",
            str(r.due),
            "due" if r.due >= month else "overdue",
            "yes" if r.at_or_above_standard else "",
        )
        for r in found
    ]
    what = "candidates for exit" if exit_candidates else "reviews due or overdue"
    report = Report(
        ["case", "programme", "region", "verified on", "due", "state", "exit candidate"],
        rows,
        position,
        title=f"{month}: {len(rows)} {what}, as known at position {position}",
    )
    stem = "exit-candidates" if exit_candidates else "reviews"
    write_rows(report, fmt, output, f"{stem}-{month}")


@click.command("verify-households")
@click.option("--once", is_flag=True, help="One round, then stop.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
def verify_households(once: bool, interval: float) -> None:
    """Send the verification requests still unanswered to the platform
    (LEDGER_VERIFICATION_PLATFORM_URL) and record its answers; a request the platform could
    not answer is asked again later, waiting longer each time. Runs until stopped.

    Example: LEDGER_VERIFICATION_PLATFORM_URL=https://platform.example/api ledger verify-households
    """
    with open_ledger() as runtime:
        url = runtime.settings.verification_platform_url
        if not url:
            raise click.ClickException(
                "LEDGER_VERIFICATION_PLATFORM_URL is not set: the outbox has no platform to ask"
            )
        platform = HttpVerificationPlatform(
            url, runtime.settings.verification_platform_timeout_seconds
        )
        outbox = VerificationOutbox(
            runtime.ledger, runtime.read_side, platform, runtime.projector.catch_up
        )
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            while True:
                done = outbox.send_due()
                click.echo(f"answered {done.answered}, waiting {done.waiting}", err=True)
                if once or stopping:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
        finally:
            platform.close()


COMMANDS = (reviews, verify_households)

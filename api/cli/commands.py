"""The ``ledger`` command line for operators and auditors.

Settings come from the environment (LEDGER_DATABASE_URL and the rest; see the README).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import click
import uvicorn
from pydantic import ValidationError

from api.cli.tables import FORMATS, Format, echo_table, report
from api.core.bootstrap import opened
from api.core.identities import Role, mint_token
from api.core.settings import Settings
from api.demo.decade import import_with_progress, summary_rows
from api.demo.decade import run as demo_run
from api.demo.generator import FIRST, LAST
from api.services.closing import close_period
from api.services.importing import BadFileError, ImportFailedError
from domain.errors import LedgerRefusal
from domain.months import Month
from domain.people.identity import IdentityNumber
from projections.engine.rebuild import rebuild_and_compare
from projections.reads import audit_chain
from projections.reads.period_accounts import Accounts
from projections.reads.period_accounts import reconcile as reconcile_accounts
from projections.reads.read_side import ReadSide
from projections.storage.opening import open_views
from projections.storage.protection import create_service_role, protect_event_store
from projections.storage.schema import drop_views


class LedgerCommands(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ValidationError as error:
            if error.title != Settings.__name__:
                raise
            # Said in one line, without the values: the database URL may hold a password.
            reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
            raise click.ClickException(f"the settings are not usable: {reasons}") from None


@click.group(cls=LedgerCommands)
def main() -> None:
    """Social assistance ledger: operate, verify and rebuild.

    Example: LEDGER_DATABASE_URL=postgresql://ledger@127.0.0.1/ledger ledger verify
    """


@main.command()
def project() -> None:
    """Bring the views up to date with every recorded decision.

    Example: ledger project
    """
    with opened() as runtime:
        projected = runtime.projector.catch_up()
        click.echo(f"projected {projected} events; the views are at {runtime.read_side.position}")


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _position(read: ReadSide, known_at: str | None, known_at_position: int | None) -> int:
    moment: date | datetime | None = None
    if known_at is not None:
        try:
            moment = (
                datetime.fromisoformat(known_at)
                if "T" in known_at
                else date.fromisoformat(known_at)
            )
        except ValueError:
            raise click.BadParameter(
                "a date YYYY-MM-DD or a timestamp with its time zone", param_hint="--known-at"
            ) from None
    try:
        return read.known_position(moment, known_at_position)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


known_at_option = click.option(
    "--known-at", help="As known at this date (end of day, Asia/Shanghai) or timestamp."
)
known_at_position_option = click.option(
    "--known-at-position", type=int, help="As known at this ledger position."
)
as_of_option = click.option("--as-of", required=True, help="The month, YYYY-MM.")

Command = TypeVar("Command", bound=Callable[..., None])


def output_options(command: Command) -> Command:
    """--format and --output, for every command that reports rows."""
    command = click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The file a csv or parquet report is written to (default: a name the command "
        "prints, in the current directory).",
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Print an aligned table, or write CSV or Parquet (money as decimal(18,2)).",
    )(command)


@main.command()
@click.argument("programme")
@click.argument("region")
@as_of_option
@known_at_option
@known_at_position_option
@output_options
def roll(
    programme: str,
    region: str,
    as_of: str,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format,
    output: Path | None,
) -> None:
    """The open cases of a programme in a region for a month, with their amounts.

    Example: ledger roll dibao-urban 410611 --as-of 2019-08 --known-at 2019-08-31
    """
    month = _month(as_of)
    with opened() as runtime:
        runtime.projector.catch_up()
        read = runtime.read_side
        position = _position(read, known_at, known_at_position)
        entries = read.roll(programme, region, month, position)
    rows = [(e.subject_id, e.amount, e.status) for e in entries]
    _report(["case", "amount", "status"], rows, fmt, output, f"roll-{programme}-{region}-{month}")
    click.echo(f"{len(rows)} cases, as known at position {position}")


@main.command()
@click.argument("identity_number")
@as_of_option
@known_at_option
@known_at_position_option
@output_options
def entitlements(
    identity_number: str,
    as_of: str,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format,
    output: Path | None,
) -> None:
    """What a person is entitled to across programmes in a month. The person is looked up by
    the keyed reference of their identity number; the number itself is never printed.

    Example: ledger entitlements 410611198001010716 --as-of 2020-07 --known-at 2020-07-31
    """
    month = _month(as_of)
    try:
        number = IdentityNumber.parse(identity_number)
    except LedgerRefusal as refusal:
        raise click.BadParameter(refusal.message, param_hint="IDENTITY_NUMBER") from None
    with opened() as runtime:
        runtime.projector.catch_up()
        read = runtime.read_side
        position = _position(read, known_at, known_at_position)
        found = read.entitlements(runtime.ledger.references.reference(number), month, position)
    rows = [(e.subject_id, e.programme, e.region, e.amount, e.status) for e in found]
    headers = ["case", "programme", "region", "amount", "status"]
    _report(headers, rows, fmt, output, f"entitlements-{month}")
    click.echo(f"{len(rows)} entitlements in {month}, as known at position {position}")


@main.command()
@as_of_option
@click.option("--programme", help="Only this programme.")
@click.option("--region", help="Only this region.")
@known_at_option
@known_at_position_option
@output_options
def totals(
    as_of: str,
    programme: str | None,
    region: str | None,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format,
    output: Path | None,
) -> None:
    """Entitled amount and case count per programme and region for a month, and for a closed
    month what was paid, settled since and is outstanding.

    Example: ledger totals --as-of 2020-07 --programme dibao-urban
    """
    month = _month(as_of)
    with opened() as runtime:
        runtime.projector.catch_up()
        read = runtime.read_side
        position = _position(read, known_at, known_at_position)
        rows_now = read.totals(month, position, programme, region)
        closed = {
            (a.programme, a.region): a
            for a in Accounts(runtime.views).closed_months(position, programme, region)
            if a.month == month
        }
    rows: list[tuple[object, ...]] = []
    for total in rows_now:
        account = closed.get((total.programme, total.region))
        settled = (account.paid, account.settled, account.outstanding) if account else (None,) * 3
        rows.append((total.programme, total.region, total.cases, total.entitled, *settled))
    headers = ["programme", "region", "cases", "entitled", "paid", "settled", "outstanding"]
    _report(headers, rows, fmt, output, f"totals-{month}")
    click.echo(f"{month}, as known at position {position}")


@main.command("close-period")
@click.argument("programme")
@click.argument("region")
@click.argument("month")
@click.option("--actor", required=True, help="Who closes it (finance office).")
def close_period_command(programme: str, region: str, month: str, actor: str) -> None:
    """Freeze what is paid for a month: compute the payroll lines and record the close.

    Example: ledger close-period dibao-urban 410611 2020-08 --actor finance-1
    """
    with opened() as runtime:
        runtime.projector.catch_up()
        try:
            receipt = close_period(
                runtime.ledger, runtime.views, programme, region, _month(month), actor=actor
            )
        except LedgerRefusal as refusal:
            raise click.ClickException(refusal.message) from None
        runtime.projector.catch_up()
        period = Accounts(runtime.views).periods(receipt.position, programme, region)[-1]
    click.echo(
        f"closed {programme} {region} {period.month}: {period.line_count} lines, "
        f"{period.month_total} for the month, {period.arrears} arrears, "
        f"{period.recoveries} to recover (position {receipt.position})"
    )


@main.command()
@click.argument("programme")
@click.argument("region")
@click.argument("month")
@known_at_option
@known_at_position_option
@output_options
def payroll(
    programme: str,
    region: str,
    month: str,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format,
    output: Path | None,
) -> None:
    """The payroll lines of a closed period (MONTH): case, person reference, the month's
    amount, arrears, recoveries to collect and the total to pay. A period's lines never
    change once closed; as known before its close there are none.

    Example: ledger payroll dibao-urban 410611 2020-08 --format csv --output august.csv
    """
    period = _month(month)
    with opened() as runtime:
        runtime.projector.catch_up()
        position = _position(runtime.read_side, known_at, known_at_position)
        accounts = Accounts(runtime.views)
        closed = any(p.month == period for p in accounts.periods(position, programme, region))
        lines = accounts.lines(programme, region, period) if closed else []
    if not closed:
        raise click.ClickException(
            f"{programme} {region} {period} is not closed as known at position {position}"
        )
    rows = [
        (line.subject_id, holder, line.amount, line.arrears, line.recoveries, line.to_pay)
        for line, holder in lines
    ]
    headers = ["case", "person_reference", "amount", "arrears", "recoveries", "total_to_pay"]
    _report(headers, rows, fmt, output, f"payroll-{programme}-{region}-{period}")


@main.command()
@click.option("--year", type=int, help="Only this year.")
@known_at_option
@known_at_position_option
@output_options
def reconcile(
    year: int | None,
    known_at: str | None,
    known_at_position: int | None,
    fmt: Format,
    output: Path | None,
) -> None:
    """Per programme and year of closed months: entitled, paid, arrears, recoveries and
    outstanding, as known now or at --known-at / --known-at-position.

    Example: ledger reconcile --year 2020 --format parquet --output reconciliation-2020.parquet
    """
    with opened() as runtime:
        runtime.projector.catch_up()
        position = _position(runtime.read_side, known_at, known_at_position)
        accounts = Accounts(runtime.views).closed_months(position)
    rows = [
        (r.programme, r.year, r.entitled, r.paid, r.arrears, r.recoveries, r.outstanding)
        for r in reconcile_accounts(accounts)
        if year is None or r.year == year
    ]
    headers = ["programme", "year", "entitled", "paid", "arrears", "recoveries", "outstanding"]
    _report(headers, rows, fmt, output, f"reconciliation-{year or 'all'}")
    click.echo(f"as known at position {position}")


@main.command("report")
@click.option(
    "--year",
    type=click.IntRange(1900, 9999),
    required=True,
    help="The year of the monthly totals chart.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where the PNG files go (default: the current directory).",
)
@known_at_option
@known_at_position_option
def report_command(
    year: int, output_dir: Path, known_at: str | None, known_at_position: int | None
) -> None:
    """Write two PNG charts: the monthly totals per programme in --year (paid for closed months,
    entitled for months not closed) and the roll size (open cases) per programme in every
    month that has a case.

    Example: ledger report --year 2020 --output-dir charts
    """
    from api.cli.charts import write_charts  # noqa: PLC0415  (matplotlib is slow to import)

    with opened() as runtime:
        runtime.projector.catch_up()
        position = _position(runtime.read_side, known_at, known_at_position)
        charts = write_charts(runtime.views, year, position, output_dir)
    for chart in charts:
        click.echo(f"wrote {chart.path}")
    click.echo(f"as known at position {position}")


def _report(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    fmt: Format,
    output: Path | None,
    default_stem: str,
) -> None:
    if fmt == "table":
        if output is not None:
            raise click.UsageError("--output needs --format csv or parquet")
        report(headers, rows, fmt)
        return
    path = output if output is not None else Path(f"{default_stem}.{fmt}")
    report(headers, rows, fmt, path)
    click.echo(f"wrote {len(rows)} rows to {path}")


@main.command()
@click.option(
    "--expected-head",
    help="POSITION:HASH recorded elsewhere earlier; detects events removed from the end.",
)
def verify(expected_head: str | None) -> None:
    """Recompute the audit chain from the events, every closed period's lines from its
    position, and the balance of every closed month.

    Prints the head (position:hash) to record elsewhere; exits 1 naming the first position
    that differs, a period whose digest differs, or a month that does not balance.

    Example: ledger verify --expected-head 1200:9f86d081884c7d65...
    """
    with opened() as runtime:
        runtime.projector.catch_up()
        expected = audit_chain.Head.parse(expected_head) if expected_head else None
        result = audit_chain.verify(runtime.ledger.recorder, runtime.views, expected)
        position = runtime.read_side.position
        accounts = Accounts(runtime.views)
        periods = accounts.periods(position)
        wrong_digests = [p for p in periods if not p.digest_matches]
        unbalanced = [a for a in accounts.closed_months(position) if not a.balances]
    click.echo(f"head {result.head}")
    click.echo(result.explanation)
    for period in wrong_digests:
        click.echo(
            f"period {period.programme} {period.region} {period.month}: its lines recomputed "
            f"at position {period.position} do not match the recorded digest",
            err=True,
        )
    for account in unbalanced:
        click.echo(
            f"{account.programme} {account.region} {account.month}: entitled "
            f"{account.entitled} != paid {account.paid} + settled {account.settled} + "
            f"outstanding {account.outstanding}",
            err=True,
        )
    click.echo(
        f"{len(periods) - len(wrong_digests)} of {len(periods)} closed periods match their "
        f"digest; {len(periods) - len(unbalanced)} of {len(periods)} closed months balance"
    )
    if not result.ok:
        click.echo(f"first position that differs: {result.first_difference}", err=True)
    if not result.ok or wrong_digests or unbalanced:
        sys.exit(1)


@main.command()
@click.option("--replace", is_flag=True, help="Drop the live views and replay them from 0.")
def rebuild(replace: bool) -> None:
    """Replay every event into empty views and compare them with the live views.

    Exits 1 and lists the rows that differ. With --replace the live views themselves are
    dropped and replayed (after a difference was found, say).

    Example: ledger rebuild
    """
    with opened() as runtime:
        if replace:
            drop_views(runtime.views)
        runtime.projector.catch_up()
        scratch = open_views(runtime.ledger.env, schema="ledger_rebuild")
        try:
            differences = rebuild_and_compare(runtime.ledger, runtime.views, scratch)
        finally:
            scratch.close()
        position = runtime.read_side.position
    if differences:
        for difference in differences:
            click.echo(difference, err=True)
        click.echo(f"the rebuilt views differ from the live views at position {position}")
        sys.exit(1)
    click.echo(f"the rebuilt views equal the live views at position {position}")


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Load decisions from a JSON Lines file (docs/import-format.md), with their original
    times. The whole file is checked first: bad lines are listed with their number and
    reason, and then nothing is stored. An interrupted import resumes where it stopped.

    Example: ledger import decisions.jsonl
    """
    with opened() as runtime:
        try:
            result = import_with_progress(runtime, path)
        except BadFileError as bad:
            for line in bad.bad:
                click.echo(f"line {line.number}: {line.reason}", err=True)
            raise click.ClickException(str(bad)) from None
        except ImportFailedError as failed:
            raise click.ClickException(str(failed)) from None
    click.echo(
        f"{result.imported} decisions imported, {result.already_imported} imported before; "
        f"the ledger is at position {result.position}"
    )


@main.command()
@click.option("--scale", type=float, default=1.0, show_default=True, help="1 is the city.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var"),
    show_default=True,
    help="Where the generated decisions file is kept.",
)
def demo(scale: float, seed: int, folder: Path) -> None:
    """Load a decade of a city's assistance (2012-10 to 2022-09) into the ledger, build the
    projections, verify everything and print the decade's totals beside the published
    figures. Running it again reuses what is loaded.

    Example: ledger demo --scale 0.1
    """
    if scale <= 0:
        raise click.BadParameter("the scale is more than 0", param_hint="--scale")
    with opened() as runtime:
        result = demo_run(runtime, folder, seed, scale, click.echo)
        click.echo(
            f"\nThe decade {FIRST} to {LAST}, paid and settled, beside the published figures:"
        )
        echo_table(["", "this ledger", "published", "ratio"], summary_rows(result, scale))
    click.echo(
        f"\n{result.events:,} events, verified: {'yes' if result.verified else 'NO'}; "
        f"took {result.seconds:.0f} s. Next: `ledger serve` (then /docs), "
        "`ledger report --year 2020`, `ledger reconcile --year 2020`."
    )
    if not result.verified:
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI at /docs), with the projections running beside it.

    Example: LEDGER_DATABASE_URL=postgresql://ledger@127.0.0.1/ledger ledger serve --port 8000
    """
    Settings()  # refuses to start, with the reason, before the server starts
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level="info")


@main.command()
@click.argument("user")
@click.argument("role", type=click.Choice([role.value for role in Role]))
@click.option("--minutes", type=int, help="How long the token is valid (default from settings).")
def token(user: str, role: str, minutes: int | None) -> None:
    """Mint a bearer token for a user acting in a role.

    Example: ledger token wang.fang caseworker
    """
    settings = Settings()
    if settings.jwt_secret is None:
        raise click.ClickException("no token signing key is configured (LEDGER_JWT_SECRET)")
    click.echo(
        mint_token(
            settings.jwt_secret.get_secret_value(),
            user,
            Role(role),
            minutes or settings.token_minutes,
        )
    )


@main.command()
@click.option("--admin-url", required=True, help="A role that may create roles.")
@click.option("--owner-url", required=True, help="The role that created the event tables.")
@click.option("--service-role", required=True, help="The role the service runs as.")
def protect(admin_url: str, owner_url: str, service_role: str) -> None:
    """On PostgreSQL: create the service role and make the event table append-only for it.

    Example: ledger protect --admin-url postgresql://postgres@/ledger
    --owner-url postgresql://ledger_owner@/ledger --service-role ledger_service
    """
    create_service_role(admin_url, service_role)
    protect_event_store(owner_url, service_role)
    click.echo(f"{service_role} may read and append events; nobody may change or delete them")

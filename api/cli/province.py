"""For the province over its cities: a city publishes its ledger, the province subscribes
to it, keeps each city's views current, and reads totals, status and conflicts across
cities, or verifies a city's audit chain (docs/scale-out.md, "The province over its
cities").

A city's commands read LEDGER_DATABASE_URL (the city's ledger); the province's read
LEDGER_PROVINCE_URL (or --province), the province's own database on its server.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import psycopg

from api.cli.opening import UNUSABLE, cause, open_ledger
from api.cli.options import as_of_option, read_month
from api.cli.tables import echo_table, total_row
from api.services.province import CityStatus, Province, reference_check
from domain.cases.programmes import parse_programme
from domain.errors import InvalidInputError
from projections.province.consolidation import provincial_totals
from projections.province.replication import (
    NotPublishedError,
    UnknownCityError,
    city_name,
    publish,
)
from projections.storage.opening import is_postgres, postgres_conninfo
from projections.storage.signing import UnverifiedEventError

PROVINCE_SETTING = "LEDGER_PROVINCE_URL"
RETRY_SECONDS = 1.0
ALARM_SECONDS = 30.0

province_option = click.option(
    "--province",
    "province_url",
    envvar=PROVINCE_SETTING,
    required=True,
    help=f"The province's own database, postgresql://user@host:port/dbname ({PROVINCE_SETTING}).",
)


@contextmanager
def _province(url: str) -> Iterator[Province]:
    try:
        with Province(url) as province:
            yield province
    except UNUSABLE as error:
        raise click.ClickException(
            f"{PROVINCE_SETTING}: the province's database cannot be used: {cause(error, url)}"
        ) from None


def _city(_: click.Context, __: click.Parameter, text: str | None) -> str | None:
    try:
        return None if text is None else city_name(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _programme(_: click.Context, __: click.Parameter, text: str) -> str:
    try:
        return parse_programme(text).value
    except InvalidInputError as error:
        raise click.BadParameter(str(error)) from None


def _verify_keys(_: click.Context, __: click.Parameter, text: str) -> dict[str, str]:
    """The JSON of ``ledger verify-keys``, given as text or as a file."""
    path = Path(text)
    given = path.read_text(encoding="utf-8") if path.is_file() else text
    try:
        keys = json.loads(given)
    except json.JSONDecodeError:
        keys = None
    if not isinstance(keys, dict) or not keys:
        raise click.BadParameter(
            "give the city's `ledger verify-keys` output: a JSON object, key id -> public key, "
            "or a file holding it"
        )
    return {str(k): str(v) for k, v in keys.items()}


@click.group()
def province() -> None:
    """The province over its cities' ledgers, by PostgreSQL logical replication: publish at
    each city, subscribe, follow and read at the province (docs/scale-out.md).

    Example: LEDGER_PROVINCE_URL=postgresql://auditor@province-db/province ledger province
    status
    """


@province.command("publish")
def publish_command() -> None:
    """At a city: publish its events, signed checkpoints and the check value of its person
    reference key, for the province to subscribe to (needs wal_level = logical).

    Example: LEDGER_DATABASE_URL=postgresql://owner@city-db/ledger ledger province publish
    """
    with open_ledger() as runtime:
        env = runtime.ledger.env
        if not is_postgres(env):
            raise click.ClickException("only a ledger on PostgreSQL can be published")
        check = reference_check(runtime.settings.ledger_env()["LEDGER_PERSON_REF_KEY"])
        conninfo = postgres_conninfo(dict(env))
        try:
            publish(conninfo, check)
        except (ValueError, psycopg.Error) as error:
            raise click.ClickException(
                f"the ledger cannot be published: {cause(error, conninfo)}"
            ) from None
    click.echo("published: ledger_province (events, signed checkpoints, reference key check)")


@province.command()
@province_option
@click.option("--city", required=True, callback=_city, help="The city's name: a-z, 0-9, _.")
@click.option(
    "--url",
    "city_url",
    required=True,
    help="The city's ledger database as the province's server reaches it (a role with "
    "REPLICATION).",
)
@click.option(
    "--verify-keys",
    required=True,
    callback=_verify_keys,
    help="The city's public keys: its `ledger verify-keys` output, or a file holding it.",
)
def subscribe(province_url: str, city: str, city_url: str, verify_keys: dict[str, str]) -> None:
    """At the province: receive a city's events by a subscription to its publication; its
    history is copied first, then every event follows as the city commits it.

    Example: ledger province subscribe --city hebi --url postgresql://replicator@hebi-db/ledger
    --verify-keys hebi-keys.json
    """
    try:
        with Province(province_url) as province_:
            province_.subscribe(city, city_url, verify_keys)
    except psycopg.Error as error:
        raise click.ClickException(
            f"the province cannot subscribe to {city}: {cause(error, city_url)}"
        ) from None
    except NotPublishedError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"subscribed to {city}")


@province.command()
@province_option
@click.option(
    "--interval", default=0.05, show_default=True, help="Seconds between looks when idle."
)
def follow(province_url: str, interval: float) -> None:
    """Keep every city's views at the province current, until interrupted; while the
    province's database cannot be used, say why and try again every second.

    Example: ledger province follow
    """
    with _province(province_url) as province_:
        click.echo(f"following {', '.join(province_.names()) or 'no city yet'}", err=True)
        stopped: dict[str, float] = {}  # a city whose views stop before an event: until when
        while True:  # until interrupted (Ctrl-C or SIGTERM)
            try:
                projected = _follow_round(province_, stopped)
            except UNUSABLE as error:
                click.echo(
                    f"the province's database cannot be used: {cause(error, province_url)}; "
                    f"trying again in {RETRY_SECONDS:g} s",
                    err=True,
                )
                time.sleep(RETRY_SECONDS)
                continue
            if not projected:
                time.sleep(interval)


def _follow_round(province_: Province, stopped: dict[str, float]) -> int:
    """A batch of each city in turn, so that none waits on another; the events projected.
    A city whose next event does not verify raises the alarm, again every
    ``ALARM_SECONDS``, and the others go on."""
    projected = 0
    for name in province_.names():
        if stopped.get(name, 0.0) > time.monotonic():
            continue
        try:
            projected += province_.project_batch(name)
        except UnverifiedEventError as error:
            click.echo(f"ALARM: {name}'s views stop before an event: {error}", err=True)
            stopped[name] = time.monotonic() + ALARM_SECONDS
    return projected


def _caught_up(province_: Province) -> list[str]:
    names = province_.names()
    for name in names:
        province_.catch_up(name)
    return names


@province.command()
@province_option
def status(province_url: str) -> None:
    """Each city: the position the province's figures reflect and when the city recorded
    it, whether the city is current (connected, and everything received projected), and
    when it was last heard from (while connected).

    Example: ledger province status
    """
    rows = []
    with _province(province_url) as province_:
        for name in _caught_up(province_):
            state = province_.status(name)
            rows.append(
                (
                    name,
                    state.position,
                    _state(state),
                    _moment(state.recorded_at),
                    _moment(state.replication.last_heard),
                )
            )
    echo_table(
        ["city", "position", "state", "recorded_at", "last_heard"],
        rows,
        title="The province's cities",
    )


def _state(status: CityStatus) -> str:
    if status.current:
        return "current"
    return "behind" if status.replication.connected else "offline"


def _moment(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


@province.command()
@province_option
@as_of_option
def totals(province_url: str, as_of: str) -> None:
    """Each city's totals of a month, at the position they reflect and whether the city is
    current, and the province's sum per programme.

    Example: ledger province totals --as-of 2024-05
    """
    month = read_month(as_of)
    with _province(province_url) as province_:
        states = {name: _state(province_.status(name)) for name in _caught_up(province_)}
        cities = province_.totals(month)
    rows = [
        (c.city, c.position, states[c.city], t.programme, t.region, t.cases, t.entitled,
         t.paid, t.settled, t.outstanding)
        for c in cities
        for t in c.totals
    ]  # fmt: skip
    headers = ["city", "position", "state", "programme", "region", "cases", "entitled",
               "paid", "settled", "outstanding"]  # fmt: skip
    echo_table(headers, rows, title=f"Each city's totals of {month}")
    summed = [
        (t.programme, t.cases, t.entitled, t.paid, t.settled, t.outstanding)
        for t in provincial_totals(cities)
    ]
    echo_table(
        ["programme", "cases", "entitled", "paid", "settled", "outstanding"],
        summed,
        title=f"The province's totals of {month}",
    )


@province.command()
@province_option
@click.option("--programme", required=True, callback=_programme, help="The programme.")
@as_of_option
def roll(province_url: str, programme: str, as_of: str) -> None:
    """Each city's roll of a programme in a month, region by region, at the position it
    reflects.

    Example: ledger province roll --programme dibao-urban --as-of 2024-05
    """
    month = read_month(as_of)
    with _province(province_url) as province_:
        _caught_up(province_)
        rolls = province_.rolls(programme, month)
    rows = [
        (r.city, r.position, r.region, e.subject_id, e.amount, e.status)
        for r in rolls
        for e in r.entries
    ]
    echo_table(
        ["city", "position", "region", "case", "amount", "status"],
        rows,
        title=f"The province's roll of {programme} in {month}: {len(rows)} cases",
        total=total_row(rows, [4]),
    )


@province.command()
@province_option
@as_of_option
def conflicts(province_url: str, as_of: str) -> None:
    """The persons (by reference) holding, in two cities, cases of programmes that exclude
    each other in a month; exits 1 when there is one.

    Example: ledger province conflicts --as-of 2024-05
    """
    month = read_month(as_of)
    with _province(province_url) as province_:
        _caught_up(province_)
        groups = province_.reference_groups()
        if len(groups) > 1:
            click.echo(
                f"the cities make person references with {len(groups)} keys "
                f"({' | '.join(', '.join(group) for group in groups)}): a person held in two "
                "cities of different keys is not seen",
                err=True,
            )
        found = province_.conflicts(month)
    rows = [
        (c.person_ref[:16], h.city, h.programme, h.region, h.case_id)
        for c in found
        for h in c.holdings
    ]
    echo_table(
        ["person", "city", "programme", "region", "case"],
        rows,
        title=f"Persons holding exclusive programmes in two cities in {month}: {len(found)}",
    )
    if found:
        sys.exit(1)


@province.command("verify")
@province_option
@click.option("--city", required=True, callback=_city, help="The city whose chain to verify.")
def verify_city(province_url: str, city: str) -> None:
    """Recompute a city's audit chain from its events at the province, checking every
    signature with the city's keys, and its closed periods and months; exits 1 naming what
    fails.

    Example: ledger province verify --city hebi
    """
    with _province(province_url) as province_:
        try:
            result = province_.verify(city)
        except UnknownCityError as error:
            raise click.ClickException(str(error)) from None
    chain = result.chain
    click.echo(f"{city}: head {chain.head}")
    click.echo(chain.explanation)
    click.echo(
        f"{chain.events} events, {len(result.periods) - len(result.wrong_digests)} of "
        f"{len(result.periods)} closed periods match their digest, "
        f"{len(result.months) - len(result.unbalanced)} of {len(result.months)} closed "
        "months balance"
    )
    if not result.ok:
        sys.exit(1)


COMMANDS = (province,)

"""Each measurement of the benchmark: the ledger and its raw baseline doing the same work."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from api.core.bootstrap import opened
from api.core.identities import Role, mint_token
from api.core.settings import Settings
from api.services.importing import import_file
from api.services.verification import verify
from domain.application.ledger import Ledger
from domain.months import Month
from domain.people.identity import IdentityNumber
from domain.regions import RegionCatalogue
from projections.engine.projector import Projector
from projections.reads.read_side import ReadSide
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views
from scripts.benchmarks import rebuild_floor, signatures
from scripts.benchmarks.databases import BenchDatabase
from scripts.benchmarks.figures import Comparison, Measure, percentile, seconds_of, timed
from scripts.benchmarks.http_load import LoadResult, Request, in_turns, load, serving
from scripts.benchmarks.raw import RawPostgres, RawStore, batched
from scripts.benchmarks.trace import Operation, RawRow, StorageTrace, Write, as_raw_row
from scripts.benchmarks.workload import GrantRequest, Grants, set_standards

# The import saves every 2,000 decisions, about 4,000 events: the raw baseline writes
# batches of that size, one transaction each.
RAW_BATCH_ROWS = 4_000
READ_PAGE = 1_000
ROUNDS = 3
LOOKUP_MONTHS = (Month.of(2014, 6), Month.of(2017, 3), Month.of(2020, 9), Month.of(2022, 6))
ROLL_PROGRAMMES = ("dibao-urban", "dibao-rural", "elderly-allowance")


def open_ledger(database_url: str) -> Ledger:
    settings = Settings(database_url=database_url)
    # As creating a ledger does: the service started on it later reads the same keys (its
    # tokens would be refused, and its people's references differ, with keys of its own).
    settings.keep_development_keys()
    return Ledger(settings.ledger_env())


DOMAIN_WORK = "domain rules and event encoding"
IMPORT_WORK = (
    "the checks, domain rules and event encoding, and the projection into views (here an "
    "in-memory SQLite) that the payroll closes read"
)


def ratio_note(memory_seconds: float, ours_seconds: float, what: str, work: str) -> str:
    return (
        f"without a database (in memory) the same {what} take {memory_seconds:.2f} s, "
        f"{memory_seconds / ours_seconds:.0%} of the ledger's {ours_seconds:.2f} s: "
        f"that share is {work}"
    )


def single_decisions(
    db: BenchDatabase, count: int, effective: Month, rounds: int = ROUNDS
) -> list[Comparison]:
    """Grants recorded one by one through the Application (each its own save), against a
    raw program doing the same reads and writing the same rows, a transaction per grant.
    The two take turns, ``rounds`` times, and the best round of each counts."""
    first = Grants(effective).take(count)

    memory = open_ledger("memory:")
    set_standards(memory)
    memory_seconds = seconds_of(record_all, first, memory)

    traced = open_ledger("memory:")
    trace = StorageTrace(traced)
    set_standards(traced)
    setup = trace.take()
    per_decision: list[list[Operation]] = []
    for request in first:
        request.record(traced)
        per_decision.append(trace.take())

    ledger = open_ledger(db.ledger_url)
    set_standards(ledger)
    raw = db.open_raw()
    ours, theirs = [], []
    for round_number in range(rounds):
        requests = (
            first if round_number == 0 else Grants(effective, count * round_number).take(count)
        )
        ours.append(seconds_of(record_all, requests, ledger))
        raw.truncate()
        raw.repeat(setup)
        theirs.append(seconds_of(repeat_all, raw, per_decision))
    ledger.close()
    raw.close()
    reads = sum(1 for ops in per_decision for op in ops if not isinstance(op, Write))
    ours_seconds = min(ours)
    return [
        Comparison(
            "single decisions",
            db.store,
            f"{count} grants, one save each",
            "grants/s",
            count / ours_seconds,
            f"{reads / count:.1f} reads + 1 transaction per grant",
            count / min(theirs),
            target=0.6,
            note=ratio_note(memory_seconds, ours_seconds, "grants", DOMAIN_WORK),
        )
    ]


def record_all(requests: Sequence[GrantRequest], ledger: Ledger) -> None:
    for request in requests:
        request.record(ledger)


def repeat_all(raw: RawStore, per_decision: Sequence[Sequence[Operation]]) -> None:
    for operations in per_decision:
        raw.repeat(operations)


def write_batches(write: Callable[[Sequence[RawRow]], None], rows: Sequence[RawRow]) -> None:
    for batch in batched(rows, RAW_BATCH_ROWS):
        write(batch)


@dataclass
class Decade:
    """The decade's decisions imported into the ledger under test."""

    db: BenchDatabase
    decisions: Path
    events: int = 0


def bulk_import(decade: Decade, memory_seconds: float) -> list[Comparison]:
    """``ledger import`` of the generator's decisions, against raw executemany (and, on
    PostgreSQL, COPY) of the rows it stored, in batches of the import's size."""
    ours_seconds = import_decade(decade)
    ledger = open_ledger(decade.db.ledger_url)
    rows = list(stored_rows(ledger))
    ledger.close()

    raw = decade.db.open_raw()

    def compared(baseline: str, raw_seconds: float, target: float | None = None) -> Comparison:
        return Comparison(
            "bulk import",
            decade.db.store,
            f"{decade.events:,} events",
            "events/s",
            decade.events / ours_seconds,
            baseline,
            len(rows) / raw_seconds,
            target=target,
            note=(
                ratio_note(memory_seconds, ours_seconds, "decisions", IMPORT_WORK) if target else ""
            ),
        )

    figures = [compared("executemany", seconds_of(write_batches, raw.executemany, rows), 0.5)]
    if isinstance(raw, RawPostgres):
        raw.truncate()
        figures.append(compared("COPY", seconds_of(write_batches, raw.copy, rows)))
    raw.close()
    return figures


def import_decade(decade: Decade) -> float:
    """``ledger import`` of the generator's decisions into the ledger under test; the
    seconds it took."""
    ledger = open_ledger(decade.db.ledger_url)
    views = open_views(ledger.env)
    seconds = seconds_of(import_file, ledger, views, decade.decisions)
    decade.events = ledger.position
    views.close()
    ledger.close()
    return seconds


def copy_to_raw(decade: Decade) -> None:
    """The rows the import stored, written into the raw baseline's table (unmeasured), as
    the bulk import's baseline leaves them: the rebuild's raw baselines read them."""
    ledger = open_ledger(decade.db.ledger_url)
    rows = list(stored_rows(ledger))
    ledger.close()
    raw = decade.db.open_raw()
    write_batches(raw.executemany, rows)
    raw.close()


def memory_import_seconds(decisions: Path) -> float:
    ledger = open_ledger("memory:")
    views = open_views(ledger.env)
    seconds = seconds_of(import_file, ledger, views, decisions)
    views.close()
    return seconds


def stored_rows(ledger: Ledger) -> Iterator[RawRow]:
    position = 0
    while notifications := ledger.recorder.select_notifications(
        start=position + 1, limit=READ_PAGE
    ):
        for notification in notifications:
            yield as_raw_row(ledger, notification)
        position = notifications[-1].id


def rebuild(decade: Decade) -> tuple[list[Comparison], list[Measure]]:
    """Every projection replayed from the first event into scratch views, in a process of
    its own, against a raw server-side cursor reading and decoding the same rows, and
    against that reading with the rebuilt views' rows written (``rebuild_floor``): first
    with every signature checked, as imported, then again once a checkpoint at the head
    vouches for them, as the service leaves one every thousand events and a verification
    when it passes (the replay checks the chain up to it instead). Half the events are
    replayed too, to show whether peak memory grows with the events; and the first events,
    in turns with and without checking their signatures, to show what checking costs."""
    half = _rebuild_in_child(decade.db.ledger_url, decade.events // 2)
    full = _rebuild_in_child(decade.db.ledger_url, decade.events)
    floor = rebuild_floor.compare(decade.db, full)  # before the slices replace its views
    slice_end = min(decade.events, signatures.REBUILD_SLICE)
    checked_runs, unchecked_runs = [], []
    for _ in range(signatures.ROUNDS):  # in turns: the machine's load shifts meanwhile
        checked_runs.append(_rebuild_in_child(decade.db.ledger_url, slice_end))
        unchecked_runs.append(_rebuild_in_child(decade.db.ledger_url, slice_end, unchecked=True))
    checkpoint_the_head(decade)
    vouched = _rebuild_in_child(decade.db.ledger_url, decade.events)
    raw = decade.db.open_raw()
    rows, raw_seconds = timed(raw.read_and_decode)
    raw.close()
    store = decade.db.store
    return (
        [
            Comparison(
                "full rebuild",
                store,
                f"{full['events']:,} events",
                "events/s",
                full["events"] / full["seconds"],
                "cursor read + JSON decode",
                rows / raw_seconds,
                target=0.5,
            ),
            floor,
            replace(
                floor,
                work=f"{vouched['events']:,.0f} events, signatures vouched for by a checkpoint",
                ours=vouched["events"] / vouched["seconds"],
                note=f"the rebuild took {vouched['seconds']:.2f} s",
            ),
            signatures.rebuild(store, checked_runs, unchecked_runs),
        ],
        [
            Measure(
                "full rebuild",
                store,
                f"peak memory, {half['events']:,} events",
                half["peak_mib"],
                "MiB",
            ),
            Measure(
                "full rebuild",
                store,
                f"peak memory, {full['events']:,} events",
                full["peak_mib"],
                "MiB",
            ),
        ],
    )


def checkpoint_the_head(decade: Decade) -> None:
    """Verify the decade, every signature checked on every core, and sign a checkpoint at
    its head, as ``ledger verify`` does when everything verifies."""
    with opened(Settings(database_url=decade.db.ledger_url)) as runtime:
        verified = verify(
            runtime.ledger, runtime.views, runtime.read_side.position, mark=runtime.checkpointer
        )
        if not verified.ok or runtime.checkpointer is None:
            raise RuntimeError(f"the decade does not verify, or cannot be marked: {verified}")


def _rebuild_in_child(ledger_url: str, until: int, *, unchecked: bool = False) -> dict[str, float]:
    command = [sys.executable, "-m", "scripts.benchmarks.rebuild_child", ledger_url, str(until)]
    if unchecked:
        command.append("unchecked")
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def people_of(decisions: Path, count: int, seed: int = 7) -> list[str]:
    """Identity numbers of ``count`` people granted in the decisions file."""
    numbers = [
        person["identity_number"]
        for line in decisions.read_text(encoding="utf-8").splitlines()
        if '"persons"' in line
        for person in json.loads(line)["persons"]
    ]
    return random.Random(seed).sample(numbers, min(count, len(numbers)))


def lookups(decade: Decade, count: int) -> list[Measure]:
    """Entitlements of random people for random months, and rolls of past months as known
    at an earlier position, read from the live views."""
    ledger = open_ledger(decade.db.ledger_url)
    views = open_views(ledger.env)
    Projector(ledger.recorder, ledger.mapper, views).catch_up()
    read = ReadSide(views)
    position = read.position
    pick = random.Random(11)
    references = [
        ledger.references.reference(IdentityNumber.parse(n))
        for n in people_of(decade.decisions, count)
    ]
    latencies = [
        seconds_of(read.entitlements, ref, pick.choice(LOOKUP_MONTHS), position)
        for ref in references
    ]
    rolls = _roll_seconds(read, views, position)
    views.close()
    ledger.close()
    store = decade.db.store
    return [
        Measure(
            "lookups",
            store,
            f"entitlements p50 ({len(latencies)} people)",
            percentile(latencies, 0.5) * 1000,
            "ms",
        ),
        Measure(
            "lookups",
            store,
            f"entitlements p99 ({len(latencies)} people)",
            percentile(latencies, 0.99) * 1000,
            "ms",
            limit=5,
        ),
        Measure(
            "lookups",
            store,
            f"slowest roll of a past month known at an earlier position ({len(rolls)} rolls)",
            max(rolls) * 1000,
            "ms",
            limit=1000,
        ),
    ]


def _roll_seconds(read: ReadSide, views: ViewDatabase, position: int) -> list[float]:
    regions = [
        r for (r,) in views.fetchall("SELECT DISTINCT region FROM subjects ORDER BY region", ())
    ]
    return [
        seconds_of(read.roll, programme, region, month, position // 2)
        for programme in ROLL_PROGRAMMES
        for region in regions[:2]
        for month in LOOKUP_MONTHS[:2]
    ]


def http(
    decade: Decade, clients: int, seconds: float, effective: Month
) -> tuple[list[Comparison], list[Measure]]:
    """Requests per second of the service (POST entitlement searches and POST grants)
    against the trivial FastAPI endpoint, with the same load generator; the searches and
    the trivial endpoint in turns.

    The decade's head is checkpointed first, as the verify section leaves it and as an
    operator would after an import (``ledger checkpoints take``): otherwise the service's
    poller takes that first checkpoint while it is measured, checking every event's
    signature (10 s of CPU at scale 0.1), and the figures depend on the sections run
    before."""
    settings = Settings(database_url=decade.db.ledger_url)
    with opened(settings) as runtime:
        if runtime.checkpointer is not None:
            runtime.checkpointer.take()
    env = {"LEDGER_DATABASE_URL": decade.db.ledger_url, "LEDGER_ENVIRONMENT": "development"}
    assert settings.jwt_secret is not None
    secret = settings.jwt_secret.get_secret_value()
    people = people_of(decade.decisions, 2_000)
    grants = Grants(effective, start=1_000_000)
    store = decade.db.store

    def search(number: int) -> Request:
        """A person of the decade, in a month of the decade: the answer holds what they had."""
        month = LOOKUP_MONTHS[number % len(LOOKUP_MONTHS)]
        body = {"identity_number": people[number % len(people)]}
        return ("POST", f"/entitlements/search?as_of={month}", body)

    verifier = Ledger(settings.ledger_env())

    def grant(_: int) -> Request:
        """A grant; a dibao one cites a verification recorded first, beside the service."""
        request = grants.next()
        if request.is_dibao:
            return (
                "POST",
                "/cases",
                request.body | {"verification_id": str(request.verify(verifier))},
            )
        return ("POST", "/cases", request.body)

    with (
        serving("scripts.benchmarks.trivial_app:app", {}, factory=False, ready_path="/") as bare,
        serving("api.app:create_app", env, factory=True, ready_path="/ready") as port,
    ):
        regions = RegionCatalogue.load(settings.region_catalogue).names
        viewer = mint_token(secret, "bench-viewer", Role.VIEWER, 60, regions=regions)
        caseworker = mint_token(secret, "bench-caseworker", Role.CASEWORKER, 60, regions=regions)
        trivial, searched = in_turns(
            [
                lambda s: load(bare, lambda _: ("GET", "/", None), clients=clients, seconds=s),
                lambda s: load(port, search, clients=clients, seconds=s, token=viewer),
            ],
            seconds,
        )
        granted = load(port, grant, clients=clients, seconds=seconds, token=caseworker)
    verifier.close()
    comparisons = [
        Comparison(
            "HTTP",
            store,
            "POST /entitlements/search",
            "requests/s",
            searched.per_second,
            "trivial GET",
            trivial.per_second,
            target=0.5,
            note=_statuses(searched),
        ),
        Comparison(
            "HTTP",
            store,
            "POST /cases (grants)",
            "requests/s",
            granted.per_second,
            "trivial GET",
            trivial.per_second,
            note=_statuses(granted),
        ),
    ]
    measures = [
        Measure("HTTP", store, "trivial GET p99", trivial.latency_ms(0.99), "ms"),
        Measure("HTTP", store, "entitlement search p99", searched.latency_ms(0.99), "ms"),
        Measure("HTTP", store, "grant p99", granted.latency_ms(0.99), "ms"),
    ]
    return comparisons, measures


def _statuses(result: LoadResult) -> str:
    return "answers by status: " + ", ".join(
        f"{status}: {count:,}" for status, count in sorted(result.statuses.items())
    )

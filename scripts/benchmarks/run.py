"""One benchmark run: every section on each store, into one report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from api.demo.decade import decisions_file
from domain.months import Month
from scripts.benchmarks import outbox, partitioned, sections, signatures, verification
from scripts.benchmarks.databases import Store, fresh_database
from scripts.benchmarks.figures import Report
from scripts.benchmarks.sections import Decade


@dataclass(frozen=True)
class Plan:
    scale: float
    decisions: int
    lookups: int
    http_seconds: float
    clients: int
    seed: int = 1


QUICK = Plan(scale=0.003, decisions=100, lookups=200, http_seconds=2, clients=4)
FULL = Plan(scale=1, decisions=2_000, lookups=2_000, http_seconds=20, clients=8)


def run(
    plan: Plan, stores: Sequence[Store], folder: Path, echo: Callable[[str], None], *, quick: bool
) -> Report:
    report = Report(quick=quick, scale=plan.scale)
    effective = Month.at(datetime.now(UTC))
    echo(f"Writing the decade's decisions at scale {plan.scale:g} ...")
    with decisions_file(plan.seed, plan.scale) as decisions:
        _measure(report, plan, stores, folder, decisions, effective, echo)
    report.machine["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return report


def _measure(
    report: Report,
    plan: Plan,
    stores: Sequence[Store],
    folder: Path,
    decisions: Path,
    effective: Month,
    echo: Callable[[str], None],
) -> None:
    echo("Importing them without a database, for the share of the domain rules ...")
    memory_seconds = sections.memory_import_seconds(decisions)
    for store in stores:
        echo(f"[{store}] single decisions ...")
        with fresh_database(store, folder, "single") as db:
            report.comparisons += sections.single_decisions(db, plan.decisions, effective)
        echo(f"[{store}] single decisions signed and unsigned ...")
        with (
            fresh_database(store, folder, "signed") as signed,
            fresh_database(store, folder, "unsigned") as unsigned,
        ):
            report.comparisons += signatures.decisions(signed, unsigned, plan.decisions, effective)
        echo(f"[{store}] single decisions with and without webhook subscribers ...")
        with (
            fresh_database(store, folder, "announced") as announced,
            fresh_database(store, folder, "unannounced") as unannounced,
        ):
            report.comparisons += outbox.decisions(
                announced, unannounced, plan.decisions, effective
            )
        with fresh_database(store, folder, "decade") as db:
            decade = Decade(db, decisions)
            echo(f"[{store}] bulk import ...")
            report.comparisons += sections.bulk_import(decade, memory_seconds)
            report.measures += signatures.per_event(db.ledger_url, store)
            echo(f"[{store}] full rebuild ...")
            comparisons, measures = sections.rebuild(decade)
            report.comparisons += comparisons
            report.measures += measures
            echo(f"[{store}] full rebuild by {partitioned.WORKERS} worker processes ...")
            comparisons, measures = partitioned.rebuild(decade)
            report.comparisons += comparisons
            report.measures += measures
            echo(f"[{store}] verify ...")
            comparisons, measures = verification.decade(db.ledger_url, store)
            report.comparisons += comparisons
            report.measures += measures
            echo(f"[{store}] lookups ...")
            report.measures += sections.lookups(decade, plan.lookups)
            echo(f"[{store}] HTTP ...")
            comparisons, measures = sections.http(
                decade, plan.clients, plan.http_seconds, effective
            )
            report.comparisons += comparisons
            report.measures += measures

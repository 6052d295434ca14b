"""One benchmark run: every section chosen (all by default) on each store, into one report."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
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


# Each section that can be chosen, by its short name, and the section its figures are
# reported under (the table's first column). The later ones measure the decade, which is
# imported (unmeasured unless "import" is chosen) when any of them is.
SECTIONS = {
    "decisions": "single decisions",
    "signatures": "signatures",
    "outbox": "outbox",
    "import": "bulk import",
    "rebuild": "full rebuild",
    "parallel": "full rebuild",
    "verify": "verify",
    "lookups": "lookups",
    "http": "HTTP",
}
ON_THE_DECADE = {"import", "signatures", "rebuild", "parallel", "verify", "lookups", "http"}
SECTION_NAMES = sorted({*SECTIONS, *SECTIONS.values()})


def chosen_sections(names: Collection[str]) -> frozenset[str]:
    """The short names of the sections ``names`` choose, by short name or as reported
    ("full rebuild" chooses both rebuilds); every section when there are none."""
    if not names:
        return frozenset(SECTIONS)
    return frozenset(
        short for short, reported in SECTIONS.items() if short in names or reported in names
    )


QUICK = Plan(scale=0.003, decisions=100, lookups=200, http_seconds=2, clients=4)
FULL = Plan(scale=1, decisions=2_000, lookups=2_000, http_seconds=20, clients=8)


def run(
    plan: Plan,
    stores: Sequence[Store],
    folder: Path,
    echo: Callable[[str], None],
    *,
    quick: bool,
    sections: frozenset[str] = frozenset(SECTIONS),
) -> Report:
    report = Report(quick=quick, scale=plan.scale)
    effective = Month.at(datetime.now(UTC))
    echo(f"Writing the decade's decisions at scale {plan.scale:g} ...")
    with decisions_file(plan.seed, plan.scale) as decisions:
        _measure(report, plan, stores, folder, decisions, effective, echo, sections)
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
    chosen: frozenset[str],
) -> None:
    memory_seconds = 0.0
    if "import" in chosen:
        echo("Importing them without a database, for the share of the domain rules ...")
        memory_seconds = sections.memory_import_seconds(decisions)
    for store in stores:
        if "decisions" in chosen:
            echo(f"[{store}] single decisions ...")
            with fresh_database(store, folder, "single") as db:
                report.comparisons += sections.single_decisions(db, plan.decisions, effective)
        if "signatures" in chosen:
            echo(f"[{store}] single decisions signed and unsigned ...")
            with (
                fresh_database(store, folder, "signed") as signed,
                fresh_database(store, folder, "unsigned") as unsigned,
            ):
                report.comparisons += signatures.decisions(
                    signed, unsigned, plan.decisions, effective
                )
        if "outbox" in chosen:
            echo(f"[{store}] single decisions with and without webhook subscribers ...")
            with (
                fresh_database(store, folder, "announced") as announced,
                fresh_database(store, folder, "unannounced") as unannounced,
            ):
                report.comparisons += outbox.decisions(
                    announced, unannounced, plan.decisions, effective
                )
        if chosen & ON_THE_DECADE:
            with fresh_database(store, folder, "decade") as db:
                _measure_the_decade(
                    report, plan, Decade(db, decisions), memory_seconds, effective, echo, chosen
                )


def _measure_the_decade(
    report: Report,
    plan: Plan,
    decade: Decade,
    memory_seconds: float,
    effective: Month,
    echo: Callable[[str], None],
    chosen: frozenset[str],
) -> None:
    ledger_url, store = decade.db.ledger_url, decade.db.store
    if "import" in chosen:
        echo(f"[{store}] bulk import ...")
        report.comparisons += sections.bulk_import(decade, memory_seconds)
    else:
        echo(f"[{store}] importing the decade (not measured) ...")
        sections.import_decade(decade)
        if "rebuild" in chosen:
            sections.copy_to_raw(decade)
    if "signatures" in chosen:
        report.measures += signatures.per_event(ledger_url, store)
    if "rebuild" in chosen:
        echo(f"[{store}] full rebuild ...")
        comparisons, measures = sections.rebuild(decade)
        report.comparisons += comparisons
        report.measures += measures
    if "parallel" in chosen:
        echo(f"[{store}] full rebuild by {partitioned.WORKERS} worker processes ...")
        comparisons, measures = partitioned.rebuild(decade)
        report.comparisons += comparisons
        report.measures += measures
    if "verify" in chosen:
        echo(f"[{store}] verify ...")
        comparisons, measures = verification.decade(ledger_url, store)
        report.comparisons += comparisons
        report.measures += measures
    if "lookups" in chosen:
        echo(f"[{store}] lookups ...")
        report.measures += sections.lookups(decade, plan.lookups)
    if "http" in chosen:
        echo(f"[{store}] HTTP ...")
        comparisons, measures = sections.http(decade, plan.clients, plan.http_seconds, effective)
        report.comparisons += comparisons
        report.measures += measures

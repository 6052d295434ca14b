"""``ledger demo``: a decade of a real city, loaded, projected, verified and summed up.

Generates the decade's decisions (deterministic for the seed and scale) into a temporary file,
imports it into the configured ledger (the embedded SQLite file by default), builds every
projection, verifies the audit chain, every period's digest and the balance of every closed
month (leaving a signed checkpoint at the head when everything verifies, as ``ledger verify``
does), and sums up the decade's totals beside the figures the bureau published.

The decisions name people, synthetic ones, by identity number and name: nothing with personal
data is kept in the clear, so the file is private to its owner while the import reads it and
removed after. A second run generates the same file again (the same digest), and the import's
own progress record finds it imported already, or resumes it where it stopped.

The demo draws nothing itself: it says its steps through ``echo`` and shows the long ones
through ``track``, so the command line (``api/cli/demo.py``) draws the progress bars and a
test passes callbacks that keep quiet.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from api.core.bootstrap import Runtime
from api.demo.generator import FIRST, LAST, generate
from api.services.importing import ImportResult, file_digest, import_file, numbered_lines
from api.services.verification import Verification
from api.services.verification import verify as verify_ledger
from projections.engine.batch_gc import rare_collections
from projections.reads.period_accounts import MonthAccount
from projections.storage.database import ViewDatabase
from projections.storage.opening import views_path

# What the bureau published for the decade 2012-10 to 2022-09, at scale 1.
PUBLISHED: dict[str, tuple[str, Decimal]] = {
    "elderly-allowance": ("elderly allowance", Decimal(137_000_000)),
    "dibao+tekun": ("dibao and tekun", Decimal(1_800_000_000)),
    "disability": ("two disability subsidies", Decimal(122_000_000)),
    "orphan": ("orphans' allowance", Decimal("22454800")),
}
PUBLISHED_ELDERLY_PEOPLE = 27_000
PUBLISHED_RELIEF_GRANTS = 59_800
GROUPS = {
    "dibao-urban": "dibao+tekun",
    "dibao-rural": "dibao+tekun",
    "tekun": "dibao+tekun",
    "disability-living": "disability",
    "disability-nursing": "disability",
}


@dataclass(frozen=True)
class DemoResult:
    events: int
    seconds: float
    head: str
    verified: bool
    paid: dict[str, Decimal]  # per group of PUBLISHED, decade months, paid + settled
    elderly_people: int
    relief_grants: int


@contextmanager
def decisions_file(seed: int, scale: float) -> Iterator[Path]:
    """The decade's decisions for a seed and scale, in a file only its owner may read (in a
    folder only its owner may enter), removed on leaving the block."""
    with tempfile.TemporaryDirectory(prefix="ledger-decade-") as folder:
        path = Path(folder) / f"decade-seed{seed}-scale{scale:g}.jsonl"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            for decision in generate(seed, scale):
                file.write(json.dumps(decision, ensure_ascii=False) + "\n")
        yield path


class LedgerInUseError(Exception):
    """The ledger holds events that are not this demo's (another scale or seed, or other
    decisions): the decade would go back in time, and its figures would mix with theirs."""


def refuse_another_ledger(runtime: Runtime, path: Path, seed: int, scale: float) -> None:
    """Go on only with an empty ledger, or one that holds this very file (or part of it)."""
    position = runtime.ledger.position
    if position == 0 or runtime.ledger.imported_through(file_digest(path)) > 0:
        return
    settings = runtime.settings
    if settings.database_url.startswith("sqlite:"):
        ledger = runtime.ledger.env["SQLITE_DBNAME"]
        elsewhere = f"remove {ledger} and {views_path(ledger)}"
    else:
        elsewhere = "use an empty database"
    raise LedgerInUseError(
        f"the ledger {settings.database_label} already holds {position:,} events that are not "
        f"the demo at scale {scale:g} and seed {seed}: run it on another ledger "
        f"(LEDGER_DATABASE_URL=sqlite:///var/demo-{scale:g}.db ledger demo --scale {scale:g}) "
        f"or {elsewhere}"
    )


Advance = Callable[[int], None]
"""Told how many units of a step are done so far."""


class Track(Protocol):
    """Shows a long step as it advances; the command line draws a progress bar. With
    ``unit``, the rate is worth showing (events per second)."""

    def __call__(
        self, label: str, total: int, unit: str | None = None
    ) -> AbstractContextManager[Advance]: ...


@contextmanager
def untracked(label: str, total: int, unit: str | None = None) -> Iterator[Advance]:
    """Shows nothing."""
    yield lambda _: None


def run(
    runtime: Runtime,
    seed: int,
    scale: float,
    echo: Callable[[str], None],
    track: Track = untracked,
) -> DemoResult:
    """Load, project and verify the decade, saying each step with ``echo`` and showing the
    long ones with ``track``. A ledger that holds anything else is refused
    (``LedgerInUseError``) before anything is stored."""
    started = time.perf_counter()
    echo(f"Generating the decade {FIRST} to {LAST} at scale {scale:g} (seed {seed}) ...")
    with decisions_file(seed, scale) as path:
        refuse_another_ledger(runtime, path, seed, scale)
        result = import_decisions(runtime, path, track)
    echo(
        f"{result.imported} decisions imported now, {result.already_imported} found imported "
        f"before; the ledger is at position {result.position}"
    )
    with rare_collections():
        project(runtime, track)
        verified = verify(runtime, echo)
    position = runtime.read_side.position
    return DemoResult(
        events=position,
        seconds=time.perf_counter() - started,
        head=str(verified.chain.head),
        verified=verified.ok,
        paid=decade_paid(verified.months),
        elderly_people=distinct_subjects(runtime.views, "elderly-allowance", position),
        relief_grants=distinct_subjects(runtime.views, "temporary-relief", position),
    )


def import_decisions(runtime: Runtime, path: Path, track: Track) -> ImportResult:
    lines = sum(1 for _ in numbered_lines(path))
    with track("Importing decisions", lines) as advance:
        return import_file(runtime.ledger, runtime.views, path, advance)


def project(runtime: Runtime, track: Track) -> None:
    """Catch the views up, in batches."""
    projector = runtime.projector
    behind = max(runtime.ledger.position - projector.position, 0)
    done = 0
    with track("Building the projections", behind, "events") as advance:
        while projected := projector.run_batch():
            done += projected
            advance(done)


def verify(runtime: Runtime, echo: Callable[[str], None]) -> Verification:
    result = verify_ledger(
        runtime.ledger, runtime.views, runtime.read_side.position, mark=runtime.checkpointer
    )
    periods, months = result.periods, result.months
    echo(f"Audit chain: {result.chain.explanation}; head {result.chain.head}")
    echo(
        f"Payroll periods: {len(periods) - len(result.wrong_digests)} of {len(periods)} match "
        "their digest when replayed"
    )
    echo(
        f"Balance: {len(months) - len(result.unbalanced)} of {len(months)} closed months where "
        "entitled = paid + settled + outstanding"
    )
    return result


def decade_paid(months: Iterable[MonthAccount]) -> dict[str, Decimal]:
    """Paid and settled for the decade's months, per group of the published figures."""
    paid: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for account in months:
        if FIRST <= account.month <= LAST:
            group = GROUPS.get(account.programme, account.programme)
            paid[group] += account.paid + account.settled
    return dict(paid)


def distinct_subjects(views: ViewDatabase, programme: str, position: int) -> int:
    rows = views.fetchall(
        "SELECT COUNT(DISTINCT subject_id) FROM segments WHERE programme = ? "
        "AND known_from <= ? AND (known_to IS NULL OR known_to > ?) AND valid_from <= ?",
        (programme, position, position, LAST.index),
    )
    return int(rows[0][0] or 0)


def summary_rows(result: DemoResult, scale: float) -> list[tuple[object, ...]]:
    """The decade's figures beside the published ones: label, ours, published, ratio."""
    rows: list[tuple[object, ...]] = []
    for group, (label, published) in PUBLISHED.items():
        figure = published * Decimal(str(scale))
        ours = result.paid.get(group, Decimal("0.00"))
        rows.append((label, f"{ours:,.2f}", f"{figure:,.0f}", _share(ours, figure)))
    relief = result.paid.get("temporary-relief", Decimal("0.00"))
    rows.append(("temporary relief (yuan)", f"{relief:,.2f}", "not published", ""))
    for label, ours_count, published_count in (
        ("elderly people on the allowance", result.elderly_people, PUBLISHED_ELDERLY_PEOPLE),
        ("temporary relief grants", result.relief_grants, PUBLISHED_RELIEF_GRANTS),
    ):
        figure = Decimal(published_count) * Decimal(str(scale))
        rows.append(
            (label, f"{ours_count:,}", f"{figure:,.0f}", _share(Decimal(ours_count), figure))
        )
    return rows


def _share(ours: Decimal, published: Decimal) -> str:
    return f"{ours / published:.1%}" if published else ""

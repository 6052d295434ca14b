"""What signing every event costs: single decisions signed beside the same decisions
unsigned, a rebuild that checks every signature beside the same replay that does not (each
in turns, the best round of each counting), and one event's signature made and checked.

The unsigned ledger is the same Ledger with the library's plain mapper (no MAPPER_TOPIC);
the unchecked replay reads the signed events through ``UncheckedMapper``, which unwraps the
envelope without checking it. Both exist only here, as baselines.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent

from api.core.settings import Settings
from domain.application.ledger import Ledger
from domain.months import Month
from projections.storage.signing import EventSignatures, open_envelope, seal, signatures_of
from scripts.benchmarks.databases import BenchDatabase
from scripts.benchmarks.figures import Comparison, Measure, seconds_of
from scripts.benchmarks.workload import GrantRequest, Grants, set_standards

ROUNDS = 3
SAMPLE = 2_000  # events signed and checked one by one
REBUILD_SLICE = 30_000  # events replayed in turns with and without checking signatures


class UncheckedMapper(Mapper[Any]):
    """Reads signed events without checking their signatures (a benchmark baseline)."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        envelope = open_envelope(stored_event.state)
        state = envelope.inner if envelope is not None else stored_event.state
        return super().to_domain_event(
            StoredEvent(
                stored_event.originator_id,
                stored_event.originator_version,
                stored_event.topic,
                state,
            )
        )


def unsigned_ledger(database_url: str) -> Ledger:
    env = Settings(database_url=database_url).ledger_env()
    del env["MAPPER_TOPIC"]
    return Ledger(env)


def signed_ledger(database_url: str) -> Ledger:
    return Ledger(Settings(database_url=database_url).ledger_env())


def decisions(
    signed_db: BenchDatabase,
    unsigned_db: BenchDatabase,
    count: int,
    effective: Month,
    rounds: int = ROUNDS,
) -> list[Comparison]:
    """The same grants recorded one by one by a signing ledger and an unsigned one, each on
    its own fresh database; they take turns, and the best round of each counts."""
    signed, unsigned = signed_ledger(signed_db.ledger_url), unsigned_ledger(unsigned_db.ledger_url)
    set_standards(signed)
    set_standards(unsigned)
    ours, theirs = [], []
    for round_number in range(rounds):
        requests = Grants(effective, count * round_number).take(count)
        ours.append(seconds_of(_record_all, requests, signed))
        theirs.append(seconds_of(_record_all, requests, unsigned))
    signed.close()
    unsigned.close()
    return [
        Comparison(
            "signatures",
            signed_db.store,
            f"{count} grants, one save each, every event signed and every event read checked",
            "grants/s",
            count / min(ours),
            "the same grants unsigned",
            count / min(theirs),
            note=(
                f"signing costs a grant {1000 * (min(ours) - min(theirs)) / count:.3f} ms "
                f"({min(ours) / min(theirs) - 1:+.0%})"
            ),
        )
    ]


def rebuild(
    store: str, checked: Sequence[dict[str, float]], unchecked: Sequence[dict[str, float]]
) -> Comparison:
    """Replays of the first events checking every signature, beside the same replays not
    checking them; they took turns, and the fastest of each counts."""
    best = min(checked, key=lambda run: run["seconds"])
    baseline = min(unchecked, key=lambda run: run["seconds"])
    per_event = (best["seconds"] - baseline["seconds"]) / best["events"] * 1e6
    return Comparison(
        "signatures",
        store,
        f"rebuild of the first {int(best['events']):,} events, every signature checked",
        "events/s",
        best["events"] / best["seconds"],
        "the same replay, signatures not checked",
        baseline["events"] / baseline["seconds"],
        note=(
            f"checking costs the rebuild {per_event:.0f} µs an event "
            f"({best['seconds'] / baseline['seconds'] - 1:+.0%})"
        ),
    )


def per_event(ledger_url: str, store: str) -> list[Measure]:
    """One event's signature made, and checked (with nothing remembered), over the first
    stored events of the decade."""
    ledger = signed_ledger(ledger_url)
    bound = signatures_of(ledger.mapper)
    assert bound is not None
    stored = ledger.recorder.select_notifications(start=1, limit=SAMPLE)
    ledger.close()
    inner = [_inner(event) for event in stored]
    started = time.perf_counter()
    resealed = [seal(event, bound.keyring) for event in inner]
    sign_seconds = time.perf_counter() - started
    fresh = EventSignatures(bound.keyring)
    started = time.perf_counter()
    for event in resealed:
        fresh.problem(event)
    check_seconds = time.perf_counter() - started
    sign_us = sign_seconds / len(inner) * 1e6
    check_us = check_seconds / len(inner) * 1e6
    return [
        Measure("signatures", store, "sign one event (Ed25519)", sign_us, "µs"),
        Measure("signatures", store, "check one event's signature", check_us, "µs"),
    ]


def _inner(stored: StoredEvent) -> StoredEvent:
    envelope = open_envelope(stored.state)
    state = envelope.inner if envelope is not None else stored.state
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)


def _record_all(requests: Sequence[GrantRequest], ledger: Ledger) -> None:
    for request in requests:
        request.record(ledger)

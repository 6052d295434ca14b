"""The full rebuild by worker processes beside one projector, in the same run, and the
speed-up the partitions' sizes would allow on more cores.

The bound on C cores: a replay cannot take less than its serial part (placing the events,
the audit chain and copying the workers' rows: measured in the partitioned run) plus the
larger of the largest partition's share of the work and an even C-th of it. The work is
taken as one projector's time, shared out by event count: ``bound = T1 / (S + T1 *
max(largest / events, 1 / C))``, where the events counted are each partition's plus those
no partition holds (checked only). Costlier events (a payroll close, a standard raise)
make a partition's share larger than its count says, so the bound is optimistic.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from scripts.benchmarks.figures import Comparison, Measure
from scripts.benchmarks.sections import Decade

WORKERS = 2
TARGET = 1.7  # the speed-up two workers should reach
ROUNDS = 2  # one projector and the workers in turns: the machine's load shifts meanwhile
CORES = (8, 32)


def rebuild(decade: Decade) -> tuple[list[Comparison], list[Measure]]:
    single_runs, parallel_runs = [], []
    for _ in range(ROUNDS):
        single_runs.append(_replay_in_child(decade.db.ledger_url, decade.events, 1))
        parallel_runs.append(_replay_in_child(decade.db.ledger_url, decade.events, WORKERS))
    single = min(single_runs, key=lambda run: float(run["seconds"]))
    parallel = min(parallel_runs, key=lambda run: float(run["seconds"]))
    store = decade.db.store
    events = int(single["events"])
    workers_cpu = " + ".join(f"{s:.1f}" for s in parallel["worker_cpu_seconds"])
    comparisons = [
        Comparison(
            "full rebuild",
            store,
            f"{events:,} events, {WORKERS} worker processes",
            "events/s",
            events / float(parallel["seconds"]),
            "one projector, same run",
            events / float(single["seconds"]),
            target=TARGET,
            note=(
                f"processor seconds: one projector {single['cpu_seconds']:.1f}; workers "
                f"{workers_cpu}; seconds placing the events {parallel['placing_seconds']:.1f}, "
                f"copying the workers' rows {parallel['copying_seconds']:.1f}; signatures "
                f"vouched for by a checkpoint up to position {parallel['vouched_through']:,}"
            ),
        )
    ]
    measures = [
        Measure(
            "full rebuild",
            store,
            f"speed-up the partitions allow on {cores} cores (bound)",
            bound(float(single["seconds"]), parallel, cores),
            "x",
        )
        for cores in CORES
    ]
    measures.append(
        Measure(
            "full rebuild",
            store,
            "largest partition's share of the events",
            100 * largest_share(parallel),
            "%",
        )
    )
    return comparisons, measures


def largest_share(run: dict[str, Any]) -> float:
    sizes = run["partition_events"]
    return float(max(sizes)) / float(sum(sizes) + run["unplaced_events"])


def bound(single_seconds: float, run: dict[str, Any], cores: int) -> float:
    """One projector's time over the least a replay on ``cores`` could take (module doc)."""
    serial = float(run["placing_seconds"]) + float(run["copying_seconds"])
    return single_seconds / (serial + single_seconds * max(largest_share(run), 1 / cores))


def _replay_in_child(ledger_url: str, until: int, workers: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "scripts.benchmarks.partitioned_child",
        ledger_url,
        str(until),
        str(workers),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result

"""Run by the benchmark in a process of its own:
``python -m scripts.benchmarks.partitioned_child LEDGER_URL UNTIL WORKERS`` replays every
event up to position UNTIL into scratch views, by one projector (WORKERS 1) or by WORKERS
processes sharing the partitions, and prints JSON: the seconds, this process's processor
seconds, and for a partitioned replay its report (each worker's processor seconds, the
seconds spent in this process alone, each partition's event count)."""

from __future__ import annotations

import json
import sys
import time

from api.core.replay_source import LedgerReplaySource
from api.core.settings import Settings
from domain.application.ledger import Ledger
from projections.engine.parallel_replay import replay_in_processes
from projections.engine.rebuild import replay
from projections.storage.opening import open_views

SCRATCH_SCHEMA = "bench_partitioned"


def main(ledger_url: str, until: int, workers: int) -> None:
    ledger = Ledger(Settings(database_url=ledger_url).ledger_env())
    scratch = open_views(ledger.env, schema=SCRATCH_SCHEMA)
    started, processor = time.perf_counter(), time.process_time()
    figures: dict[str, object] = {}
    if workers == 1:
        figures["events"] = replay(ledger.recorder, ledger.mapper, scratch, until)
    else:
        source = LedgerReplaySource.of(ledger, SCRATCH_SCHEMA)
        report = replay_in_processes(
            ledger.recorder, ledger.mapper, scratch, until, workers, source
        )
        figures |= {
            "events": report.reached,
            "worker_cpu_seconds": report.worker_cpu_seconds,
            "placing_seconds": report.placing_seconds,
            "copying_seconds": report.copying_seconds,
            "partition_events": list(report.sizes.values()),
            "unplaced_events": report.unplaced,
            "vouched_through": report.vouched_through,
        }
    figures["seconds"] = time.perf_counter() - started
    figures["cpu_seconds"] = time.process_time() - processor
    scratch.close()
    ledger.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

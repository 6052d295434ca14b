"""Run by the benchmark in a process of its own, so its memory peak is the rebuild's:
``python -m scripts.benchmarks.rebuild_child LEDGER_URL UNTIL [unchecked]`` replays every
event up to position UNTIL into scratch views and prints seconds, events and peak memory as
JSON; with ``unchecked``, without checking the events' signatures (the baseline of what
checking costs)."""

from __future__ import annotations

import json
import resource
import sys
import time
from contextlib import suppress

from eventsourcing.utils import get_topic

from api.core.settings import Settings
from domain.application.ledger import Ledger
from projections.engine.rebuild import replay
from projections.storage.opening import open_views
from scripts.benchmarks.signatures import UncheckedMapper

SCRATCH_SCHEMA = "bench_rebuild"


def peak_kib() -> int:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec, where
    ru_maxrss keeps the peak of the process it was forked from."""
    with suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(ledger_url: str, until: int, unchecked: bool = False) -> None:
    env = Settings(database_url=ledger_url).ledger_env()
    if unchecked:
        env["MAPPER_TOPIC"] = get_topic(UncheckedMapper)
    ledger = Ledger(env)
    scratch = open_views(ledger.env, schema=SCRATCH_SCHEMA)
    started = time.perf_counter()
    reached = replay(ledger.recorder, ledger.mapper, scratch, until)
    seconds = time.perf_counter() - started
    peak = peak_kib()
    scratch.close()
    ledger.close()
    print(
        json.dumps(
            {
                "events": reached,
                "seconds": seconds,
                "peak_mib": peak / 1024,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["unchecked"])

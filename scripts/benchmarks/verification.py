"""What verifying the decade costs, beside reading every event row and hashing it in one
process (a raw cursor and SHA-256: the least a recomputation of the chain can do).

Measured on the ledger as imported: a full verification (every signature checked, in
worker processes, with the chain, digests and balances), then, once a checkpoint is signed
at the head, the verification that follows it (the chain, digests and balances, and no
signature left to check). What the two differ by is what checking the signatures costs.
CPU seconds are this process's and its workers'.

``python -m scripts.benchmarks.verification LEDGER_URL`` measures an existing ledger (its
views caught up) and prints the figures as markdown.
"""

from __future__ import annotations

import hashlib
import resource
import sqlite3
import struct
import sys
import time
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Identifier

from api.core.bootstrap import opened
from api.core.settings import Settings, sqlite_path
from api.services.verification import Verification, verify
from projections.reads.checkpointing import Checkpointer
from projections.storage.signing import signatures_of
from scripts.benchmarks.figures import Comparison, Measure, Report

T = TypeVar("T")
RAW_BASELINE = "read every event row + SHA-256, one process"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _measured(work: Callable[[], T]) -> tuple[T, float, float]:
    """``work()``'s result, its wall-clock seconds and its CPU seconds."""
    cpu, started = _cpu_seconds(), time.perf_counter()
    result = work()
    return result, time.perf_counter() - started, _cpu_seconds() - cpu


def raw_chain(ledger_url: str, schema: str, table: str) -> int:
    """Read every event row in position order with a plain cursor and chain SHA-256 over
    the fields the audit chain hashes; the rows read."""
    head, rows = bytes(32), 0

    def link(position: int, originator: bytes, version: int, topic: str, state: bytes) -> None:
        nonlocal head, rows
        topic_bytes = topic.encode()
        head = hashlib.sha256(
            b"".join(
                (
                    head,
                    struct.pack(">Q", position),
                    originator,
                    struct.pack(">QI", version, len(topic_bytes)),
                    topic_bytes,
                    struct.pack(">I", len(state)),
                    state,
                )
            )
        ).digest()
        rows += 1

    if ledger_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(ledger_url)) as lite:
            for position, originator, version, topic, state in lite.execute(
                "SELECT rowid, originator_id, originator_version, topic, state"
                f" FROM {table} ORDER BY rowid"
            ):
                link(position, UUID(originator).bytes, version, topic, state)
        return rows
    with (
        psycopg.connect(ledger_url) as server,
        server.cursor(name="raw_chain") as cursor,
    ):
        cursor.itersize = 2_000
        cursor.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM {} ORDER BY notification_id"
            ).format(Identifier(schema, table))
        )
        for position, originator, version, topic, state in cursor:
            link(position, originator.bytes, version, topic, bytes(state))
    return rows


def decade(ledger_url: str, store: str) -> tuple[list[Comparison], list[Measure]]:
    """The figures of the verification section, on the ledger at ``ledger_url``."""
    with opened(Settings(database_url=ledger_url)) as runtime:
        recorder = runtime.ledger.recorder
        schema = getattr(getattr(recorder, "datastore", None), "schema", "public")
        table = str(getattr(recorder, "events_table_name", "stored_events"))
        rows, raw_seconds, raw_cpu = _measured(lambda: raw_chain(ledger_url, schema, table))
        position = runtime.read_side.position

        def run(*, full: bool) -> Verification:
            return verify(runtime.ledger, runtime.views, position, full=full)

        full, full_seconds, full_cpu = _measured(lambda: run(full=True))
        signatures = signatures_of(runtime.ledger.mapper)
        if not full.ok or signatures is None or signatures.keyring.private is None:
            raise RuntimeError(f"the decade does not verify, or cannot be marked: {full.chain}")
        Checkpointer(recorder, signatures).sign_verified(full.chain.head, full.chain.events)
        after, after_seconds, after_cpu = _measured(lambda: run(full=False))
    events = full.chain.events
    if after.chain.signatures_checked or not after.ok:
        raise RuntimeError("the verification after the checkpoint checked signatures again")
    work = f"{events:,} events, {len(full.periods):,} periods, {len(full.months):,} months"
    signature_seconds = full_seconds - after_seconds
    return (
        [
            Comparison(
                "verify",
                store,
                f"chain, digests and balances of {work}",
                "events/s",
                events / after_seconds,
                RAW_BASELINE,
                rows / raw_seconds,
                note=(
                    f"CPU {after_cpu:.1f} s for {after_seconds:.1f} s; the raw baseline "
                    f"{raw_cpu:.1f} s CPU for {raw_seconds:.1f} s"
                ),
            ),
            Comparison(
                "verify",
                store,
                f"the same with every signature checked ({work})",
                "events/s",
                events / full_seconds,
                RAW_BASELINE,
                rows / raw_seconds,
                note=(
                    f"CPU {full_cpu:.1f} s for {full_seconds:.1f} s; the signatures cost "
                    f"{signature_seconds:.1f} s ({signature_seconds / events * 1e6:.0f} µs "
                    f"an event) and {full_cpu - after_cpu:.1f} s of CPU over the workers"
                ),
            ),
        ],
        [
            Measure("verify", store, "chain, digests and balances", after_seconds, "s"),
            Measure("verify", store, "everything, every signature checked", full_seconds, "s"),
            Measure("verify", store, "the signatures' share", signature_seconds, "s"),
        ],
    )


if __name__ == "__main__":
    url = sys.argv[1]
    report = Report(quick=False, scale=float("nan"))
    report.comparisons, report.measures = decade(url, url.partition(":")[0])
    print(report.to_markdown())

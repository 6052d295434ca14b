"""PostgreSQL stopped and started again under a load of grants: meanwhile requests get 503
with Retry-After; afterwards the service recovers by itself and, once the clients retry
with their keys, every decision is stored exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scripts.benchmarks.figures import percentile
from tests.faults.burst import Burst, cases_of, hex_id, ledger_position, retry, set_standard
from tests.processes import PostgresCluster, Server, private_cluster

pytestmark = pytest.mark.postgres

CLIENTS = 4
OUTAGE_SECONDS = 5


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    with private_cluster() as cluster:
        with psycopg.connect(cluster.url, autocommit=True, connect_timeout=10) as connection:
            connection.execute("CREATE DATABASE ledger")
        yield cluster


def test_an_outage_answers_503_with_retry_after_and_loses_or_doubles_nothing(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    server = Server(cluster.url.replace("/postgres", "/ledger"), tmp_path / "server.log")
    server.start()
    burst = Burst(server, CLIENTS)
    try:
        set_standard(server)
        burst.start()
        burst.wait_for(lambda: len(burst.acknowledged()) >= 20, "grants before the outage")
        cluster.stop("fast")
        stopped = time.monotonic()
        burst.wait_for(
            lambda: (
                any(d.first and d.first.status == 503 for d in burst.decisions)
                and time.monotonic() - stopped > OUTAGE_SECONDS
            ),
            "503 answers",
        )
        cluster.start()
        restarted = time.monotonic()
        server.wait_ready()
        recovery = time.monotonic() - restarted
        before = len(burst.acknowledged())
        burst.wait_for(lambda: len(burst.acknowledged()) >= before + 20, "grants after it")
    finally:
        burst.stop()

    try:
        answers = [d.first for d in burst.decisions if d.first is not None]
        assert {a.status for a in answers} == {201, 503}
        refused = [a for a in answers if a.status == 503]
        for answer in refused:
            assert answer.headers["retry-after"] == "5"
            assert answer.headers["content-type"] == "application/problem+json"
            assert "retry" in answer.body["detail"]

        for decision in burst.decisions:
            decision.final = retry(server, decision)
            assert decision.final.status == 201, decision.final
            if decision.first is not None and decision.first.status == 201:
                assert decision.final.body == decision.first.body
        position = ledger_position(server)
        for decision in burst.decisions:
            assert cases_of(server, burst.persons[decision.key], position) == [
                hex_id(decision.final)
            ]
        seconds = [a.seconds for a in refused]
        print(
            f"\n{len(answers) - len(refused)} grants acknowledged, {len(refused)} answered 503 "
            f"(p50 {percentile(seconds, 0.5) * 1000:.0f} ms, p99 "
            f"{percentile(seconds, 0.99) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms); "
            f"ready {recovery:.1f} s after PostgreSQL was back; after the retries "
            f"{len(burst.decisions)} stored, each once"
        )
    finally:
        server.stop()

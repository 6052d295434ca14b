"""Queries answered from streaming-replication hot standbys: ``ledger serve`` on a primary
of the test's own, with two standbys as its read replicas.

A query that waits for a position is answered by a replica once that replica's views have
reached it, else by the primary, and always correctly; a replica stopped, or one whose
replay is paused beyond the lag limit, is skipped without a client seeing an error, and
read from again once it is back; /ready and /metrics show each replica's state and lag.
The ledger's own URL lists a standby before the primary, as a URL naming every server of a
cluster may: its connections find the primary, which alone accepts writes.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scripts.loadtest import EFFECTIVE, PROGRAMME, REGION, Answer, Client, grant_body, set_standard
from tests.clusters import Cluster, cluster_folder
from tests.processes import Server

MAX_LAG_POSITIONS = 5
WAIT_SECONDS = 60
_people = itertools.count(1)

pytestmark = pytest.mark.postgres


@dataclass
class Setup:
    primary: Cluster
    replicas: list[Cluster]
    server: Server
    clients: list[Client] = field(default_factory=list)

    def client(self, role: str = "auditor") -> Client:
        client = Client(self.server.url, self.server.token(f"{role}-1", role), timeout=60)
        self.clients.append(client)
        return client


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with cluster_folder() as root:
        primary = Cluster.create(root, "primary")
        started = [primary]
        try:
            primary.start()
            primary.execute("CREATE DATABASE ledger")
            for name in ("standby1", "standby2"):
                started.append(primary.standby(root, name))
            replica_urls = ",".join(c.url("ledger") for c in started[1:])
            log = Path(tmp_path_factory.mktemp("replicas")) / "server.log"
            # The ledger's URL lists a standby before the primary: writes find the primary.
            hosts = ",".join(f"127.0.0.1:{c.port}" for c in (started[1], primary))
            server = Server(
                f"postgresql://postgres@{hosts}/ledger",
                log,
                replica_urls=replica_urls,
                replica_max_lag_positions=str(MAX_LAG_POSITIONS),
            )
            server.start()
            setup = Setup(primary, started[1:], server)
            try:
                server.wait_ready()
                set_standard(server.url, server.token)
                yield setup
            finally:
                for client in setup.clients:
                    client.close()
                server.stop()
        finally:
            for cluster in started:
                cluster.destroy()


def grant(setup: Setup) -> tuple[str, int]:
    """A new case; its id and the ledger position it was recorded at."""
    answer = setup.client("caseworker").request("POST", "/cases", grant_body(next(_people)))
    assert answer.status == 201, answer
    return answer.body["id"].replace("-", ""), answer.body["position"]


def roll(client: Client, **params: int) -> Answer:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return client.request(
        "GET", f"/rolls/{PROGRAMME}/{REGION}?as_of={EFFECTIVE}&limit=5000&{query}"
    )


def replicas(setup: Setup) -> dict[str, dict[str, Any]]:
    answer = setup.client().request("GET", "/ready")
    assert answer.status == 200, answer
    return {replica["name"]: replica for replica in answer.body["replicas"]}


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        time.sleep(0.2)


def caught_up(setup: Setup, name: str, position: int) -> bool:
    replica = replicas(setup)[name]
    return bool(replica["state"] == "up" and replica["views_position"] >= position)


def all_caught_up(setup: Setup, position: int) -> bool:
    return all(caught_up(setup, name, position) for name in ("replica-1", "replica-2"))


def test_a_read_waiting_for_a_write_is_answered_from_a_replica_once_it_has_caught_up(
    setup: Setup,
) -> None:
    case_id, position = grant(setup)
    reader = setup.client()

    at_once = roll(reader, wait_for_position=position)
    assert at_once.status == 200, at_once
    assert case_id in [e["case_id"] for e in at_once.body["entries"]]
    assert at_once.headers["ledger-read-from"] in ("primary", "replica-1", "replica-2")

    until(lambda: all_caught_up(setup, position), f"both replicas at {position}")
    # A connection left idle while the replicas caught up may have outlived the server's
    # keep-alive; the reads after the wait take a new one.
    reader = setup.client()
    later = roll(reader, wait_for_position=position)
    assert later.status == 200, later
    assert later.headers["ledger-read-from"] in ("replica-1", "replica-2")
    assert case_id in [e["case_id"] for e in later.body["entries"]]
    as_known = roll(reader, known_at_position=position)
    assert as_known.headers["ledger-read-from"] in ("replica-1", "replica-2")
    assert as_known.body["position"] == position
    assert case_id in [e["case_id"] for e in as_known.body["entries"]]

    case = reader.request("GET", f"/cases/{case_id}?as_of={EFFECTIVE}&wait_for_position={position}")
    assert case.status == 200, case
    assert case.headers["ledger-read-from"] in ("replica-1", "replica-2")
    assert case.body["status"] == "paying"
    metrics = reader.request("GET", "/metrics").body
    by_replicas = sum(
        _metric(metrics, f'ledger_queries_read_from_total{{read_from="{name}"}}', absent=0)
        for name in ("replica-1", "replica-2")
    )
    assert by_replicas >= 3  # the roll, the roll as known, the case


def test_a_replica_that_stops_is_skipped_and_no_query_fails(setup: Setup) -> None:
    statuses: list[int] = []
    sources: set[str] = set()
    stopping = threading.Event()

    def read_on() -> None:
        client = Client(setup.server.url, setup.server.token("auditor-2", "auditor"), timeout=60)
        try:
            while not stopping.is_set():
                answer = roll(client)
                statuses.append(answer.status)
                sources.add(answer.headers.get("ledger-read-from", "none"))
        finally:
            client.close()

    reading = threading.Thread(target=read_on)
    reading.start()
    try:
        until(lambda: len(statuses) >= 20, "twenty reads before the kill")
        setup.replicas[0].kill()
        until(lambda: replicas(setup)["replica-1"]["state"] == "down", "replica-1 seen down")
        sources.clear()
        counted = len(statuses)
        until(lambda: len(statuses) >= counted + 20, "twenty reads after replica-1 is down")
        assert "replica-1" not in sources
        setup.replicas[1].kill()
        until(lambda: replicas(setup)["replica-2"]["state"] == "down", "replica-2 seen down")
        sources.clear()
        counted = len(statuses)
        until(lambda: len(statuses) >= counted + 20, "twenty reads with both replicas down")
        assert sources == {"primary"}
    finally:
        stopping.set()
        reading.join(WAIT_SECONDS)
        for replica in setup.replicas:
            restart(replica)
    assert set(statuses) == {200}

    _, position = grant(setup)
    until(lambda: all_caught_up(setup, position), f"both replicas back at {position}")
    assert roll(setup.client(), wait_for_position=position).headers["ledger-read-from"] in (
        "replica-1",
        "replica-2",
    )


def test_a_replica_paused_beyond_the_lag_limit_is_skipped_until_it_catches_up(
    setup: Setup,
) -> None:
    reader = setup.client()
    for replica in setup.replicas:
        replica.execute("SELECT pg_wal_replay_pause()", "ledger")
    try:
        before = replicas(setup)["replica-1"]["views_position"]
        position = before
        while position - before <= MAX_LAG_POSITIONS:
            _, position = grant(setup)
        assert roll(reader, wait_for_position=position).status == 200  # the primary's views
        until(
            lambda: all(
                r["lag_positions"] > MAX_LAG_POSITIONS and r["lag_bytes"] > 0
                for r in replicas(setup).values()
            ),
            "both replicas seen beyond the limit",
        )
        for query in ({}, {"known_at_position": before}):
            answer = roll(reader, **query)
            assert answer.status == 200, answer
            assert answer.headers["ledger-read-from"] == "primary"
        metrics = setup.client().request("GET", "/metrics").body
        assert _metric(metrics, 'ledger_queries_read_from_total{read_from="primary"}') >= 2
        for name in ("replica-1", "replica-2"):
            assert f'ledger_replica_up{{replica="{name}"}} 1.0' in metrics
            lag = _metric(metrics, f'ledger_replica_lag_positions{{replica="{name}"}}')
            assert lag > MAX_LAG_POSITIONS
            assert _metric(metrics, f'ledger_replica_lag_bytes{{replica="{name}"}}') > 0

        setup.replicas[0].execute("SELECT pg_wal_replay_resume()", "ledger")
        until(lambda: caught_up(setup, "replica-1", position), "replica-1 caught up")
        answer = roll(reader, wait_for_position=position)
        assert answer.status == 200, answer
        assert answer.headers["ledger-read-from"] == "replica-1"
        assert replicas(setup)["replica-1"]["lag_positions"] <= MAX_LAG_POSITIONS
    finally:
        for replica in setup.replicas:
            replica.execute("SELECT pg_wal_replay_resume()", "ledger")


def _metric(exposition: str, sample: str, absent: float | None = None) -> float:
    for line in exposition.splitlines():
        if line.startswith(f"{sample} "):
            return float(line.split()[-1])
    if absent is not None:
        return absent
    raise AssertionError(f"no {sample} in /metrics")


def restart(cluster: Cluster) -> None:
    """Start a cluster that was killed, once its last processes have gone."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            cluster.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            pass
        try:
            cluster.start()
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)

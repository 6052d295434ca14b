"""A primary cut off from its synchronous standby acknowledges nothing: a grant sent to it
waits for the standby and is never answered 201, nor is its retry, until the link is
mended; then the retry is answered once, and the grant is stored once.

The primary and the standby each run in a network namespace of their own (tests/netns.py):
the service, in the tests' namespace, reaches the primary over one link, and the standby
streams from it over another, which the test cuts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eventsourcing.utils import get_topic

from domain.cases.case import Case
from projections.storage.opening import POSTGRES_EVENT_TABLE
from scripts.loadtest import Client, grant_body
from tests.clusters import Cluster, cluster_folder
from tests.faults.burst import cases_of, ledger_position, set_standard
from tests.netns import Link, Network
from tests.processes import Server

pytestmark = pytest.mark.postgres

UNANSWERED_SECONDS = 8.0  # how long a client waits for a grant the primary cannot replicate
GIVE_UP_SECONDS = 120.0


@dataclass(frozen=True)
class Pair:
    primary: Cluster
    standby: Cluster
    replication: Link


def granted(primary: Cluster) -> int:
    """How many grants a reader of the primary sees."""
    rows = primary.execute(
        f"SELECT count(*) FROM {POSTGRES_EVENT_TABLE} WHERE topic = '{get_topic(Case.Granted)}'",
        dbname="ledger",
    )
    return int(str(rows[0][0]))


@pytest.fixture
def pair() -> Iterator[Pair]:
    network = Network()
    with cluster_folder("ledger-partition-") as root:
        clusters: list[Cluster] = []
        try:
            primary_side = network.namespace("primary")
            standby_side = network.namespace("standby")
            service_link = network.link(None, primary_side)
            replication = network.link(primary_side, standby_side)
            primary = Cluster.create(
                root,
                "primary",
                {"listen_addresses": f"'{service_link.right_address},{replication.left_address}'"},
                host=service_link.right_address,
                namespace=primary_side,
            )
            clusters.append(primary)
            primary.start()
            primary.execute("CREATE DATABASE ledger")
            standby = primary.standby(
                root,
                "standby",
                synchronous=True,
                host=replication.right_address,
                namespace=standby_side,
                primary_host=replication.left_address,
            )
            clusters.append(standby)
            yield Pair(primary, standby, replication)
        finally:
            for cluster in reversed(clusters):
                cluster.destroy()
            network.destroy()


def test_a_primary_cut_off_from_its_standby_acknowledges_no_grant(
    pair: Pair, tmp_path: Path
) -> None:
    server = Server(pair.primary.url("ledger"), tmp_path / "server.log")
    server.start()
    try:
        set_standard(server)
        client = Client(server.url, server.token("caseworker-1", "caseworker"), timeout=60)
        waiting = Client(
            server.url, server.token("caseworker-1", "caseworker"), timeout=UNANSWERED_SECONDS
        )
        try:
            replicated = client.request("POST", "/cases", grant_body(1), {"Idempotency-Key": "k1"})
            assert replicated.status == 201, replicated

            pair.replication.cut()
            sent = waiting.request("POST", "/cases", grant_body(2), {"Idempotency-Key": "k2"})
            retried = waiting.request("POST", "/cases", grant_body(2), {"Idempotency-Key": "k2"})
            assert sent.status == 0, sent  # no answer: the commit waits for the standby
            assert retried.status in (0, 503), retried
            assert granted(pair.primary) == 1  # nor does the primary show it to a reader

            pair.replication.mend()
            mended = time.monotonic()
            answered = client.request("POST", "/cases", grant_body(2), {"Idempotency-Key": "k2"})
            while answered.status in (0, 503) and time.monotonic() - mended < GIVE_UP_SECONDS:
                time.sleep(0.5)
                answered = client.request(
                    "POST", "/cases", grant_body(2), {"Idempotency-Key": "k2"}
                )
            answered_after = time.monotonic() - mended
        finally:
            client.close()
            waiting.close()
        assert answered.status == 201, answered
        assert granted(pair.primary) == 2
        assert cases_of(server, 2, ledger_position(server)) == [
            answered.body["id"].replace("-", "")
        ]
        print(
            f"cut off from its standby, the primary left a grant unanswered for "
            f"{sent.seconds:.1f} s and its retry for {retried.seconds:.1f} s "
            f"(answer {retried.status or 'none'}); once mended, the retry was answered 201 "
            f"{answered_after:.1f} s later and the grant stored once"
        )
    finally:
        server.stop()

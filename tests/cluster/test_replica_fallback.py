"""A query a read replica fails under way is answered by the primary: the standby is
stopped, or frozen, between its probe and the query, and the caller gets the primary's
answer, is told so, and the standby is not chosen again until a probe finds it back."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.storage import replicas as replicas_room
from projections.storage.database import PostgresViews
from projections.storage.replicas import Replicas, RoutedViews
from projections.storage.schema import TRACKING_NAME, VIEWS_SCHEMA
from tests.clusters import Cluster, cluster_folder

pytestmark = pytest.mark.postgres

IN_RECOVERY = "SELECT pg_is_in_recovery()"


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[Cluster, Cluster]]:
    with cluster_folder() as root:
        primary = Cluster.create(root, "primary")
        clusters = [primary]
        try:
            primary.start()
            primary.execute(
                f"CREATE SCHEMA {VIEWS_SCHEMA}; CREATE TABLE {VIEWS_SCHEMA}.tracking "
                f"(name TEXT PRIMARY KEY, position BIGINT NOT NULL); INSERT INTO "
                f"{VIEWS_SCHEMA}.tracking VALUES ('{TRACKING_NAME}', 7)"
            )
            clusters.append(primary.standby(root, "standby"))
            yield primary, clusters[1]
        finally:
            for cluster in clusters:
                cluster.destroy()


def test_a_query_the_replica_fails_is_answered_by_the_primary_and_the_replica_skipped(
    primary_and_standby: tuple[Cluster, Cluster],
) -> None:
    primary, standby = primary_and_standby
    primary_views = PostgresViews(primary.url(), VIEWS_SCHEMA, timeout_seconds=2)
    replicas = Replicas([standby.url()], primary.url(), lambda: 7, max_lag_positions=0)
    fell_back: list[bool] = []
    try:
        replicas.probe()
        assert [(s.name, s.up, s.views_position, s.lag_positions) for s in replicas.states()] == [
            ("replica-1", True, 7, 0)
        ]
        replica = replicas.choose(7)
        assert replica is not None
        assert replicas.choose(8) is None  # not there yet: the primary answers

        views = RoutedViews(replica, primary_views, lambda: fell_back.append(True))
        assert views.fetchall(IN_RECOVERY) == [(True,)]  # the standby answered
        assert asyncio.run(views.fetchall_on_loop(IN_RECOVERY)) == [(True,)]  # from a thread
        standby.stop("immediate")  # its backends are gone when this returns
        assert views.fetchall(IN_RECOVERY) == [(False,)]  # the primary answered
        assert fell_back == [True]
        assert [s.up for s in replicas.states()] == [False]
        assert replicas.choose(None) is None
    finally:
        replicas.stop()
        primary_views.close()


def test_a_replica_that_stops_answering_is_given_up_on_and_the_primary_answers(
    primary_and_standby: tuple[Cluster, Cluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, standby = primary_and_standby
    monkeypatch.setattr(replicas_room, "READ_WITHIN_SECONDS", 2.0)
    primary_views = PostgresViews(primary.url(), VIEWS_SCHEMA, timeout_seconds=2)
    replicas = Replicas([standby.url()], primary.url(), lambda: 7, max_lag_positions=0)
    fell_back: list[bool] = []
    frozen: list[int] = []
    try:
        replicas.probe()
        replica = replicas.choose(None)
        assert replica is not None
        views = RoutedViews(replica, primary_views, lambda: fell_back.append(True))
        assert views.fetchall(IN_RECOVERY) == [(True,)]
        frozen.extend(server_processes(standby))
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)  # the server and its connections stop answering
        assert views.fetchall(IN_RECOVERY) == [(False,)]
        assert fell_back == [True]
        assert replicas.choose(None) is None
        replica.down_until = 0.0  # probe it at once: the probe too gives up, and says so
        replicas.probe()
        assert [s.up for s in replicas.states()] == [False]
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        replicas.stop()
        primary_views.close()


def server_processes(cluster: Cluster) -> list[int]:
    """The cluster's postmaster and every process it started."""
    postmaster = cluster.postmaster_pid()
    assert postmaster is not None
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]

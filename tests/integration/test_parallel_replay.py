"""A replay by worker processes gives, row for row, the views of one projector replaying
every event in order: on a real SQLite file and a real PostgreSQL database, over the demo
decade at a small scale."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.bootstrap import Runtime, opened
from api.core.replay_source import LedgerReplaySource
from api.core.settings import Settings
from api.demo.decade import run as run_demo
from projections.engine.parallel_replay import replay_in_processes
from projections.engine.rebuild import replay
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views, views_path
from projections.storage.schema import TABLES
from tests.support import OnPostgreSQL, OnSQLite

SCALE = 0.003
SCRATCH = "ledger_rebuild"


def table_digests(views: ViewDatabase) -> dict[str, tuple[int, str]]:
    """Every views table's row count and the digest of its rows, in order."""
    digests = {}
    for table in TABLES:
        rows = sorted(
            repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
            for row in views.fetchall(f"SELECT * FROM {table}")
        )
        digests[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return digests


class PartitionedReplayOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def runtime(self, database_url: str) -> Iterator[Runtime]:
        with opened(Settings(database_url=database_url)) as runtime:
            yield runtime

    def test_two_and_three_workers_replay_the_rows_of_one_projector(self, runtime: Runtime) -> None:
        result = run_demo(runtime, 3, SCALE, lambda _: None)
        assert result.verified
        ledger = runtime.ledger
        scratch = open_views(ledger.env, schema=SCRATCH)
        source = LedgerReplaySource.of(ledger, SCRATCH)
        try:
            assert replay(ledger.recorder, ledger.mapper, scratch, result.events) == result.events
            single = table_digests(scratch)
            assert all(
                single[table][0] > 0
                for table in ("segments", "standards", "periods", "payroll_items", "payees")
            )
            for workers in (2, 3):
                report = replay_in_processes(
                    ledger.recorder, ledger.mapper, scratch, result.events, workers, source
                )
                assert report.reached == result.events
                assert report.vouched_through == result.events  # the demo's checkpoint
                assert len(report.worker_cpu_seconds) == workers
                assert sum(report.sizes.values()) + report.unplaced >= result.events
                assert table_digests(scratch) == single, f"{workers} workers"
        finally:
            scratch.close()


class TestPartitionedReplayOnSQLite(OnSQLite, PartitionedReplayOnStore):
    def test_ledger_rebuild_with_workers_equals_the_live_views_and_leaves_no_worker_files(
        self, runtime: Runtime, database_url: str
    ) -> None:
        result = run_demo(runtime, 4, SCALE, lambda _: None)
        assert result.verified
        rebuilt = CliRunner().invoke(
            main, ["rebuild", "--workers", "2"], env={"LEDGER_DATABASE_URL": database_url}
        )
        assert rebuilt.exit_code == 0, rebuilt.output
        assert f"equal the live views at position {result.events}" in rebuilt.output
        folder = views_path(runtime.ledger.env["SQLITE_DBNAME"]).parent
        assert sorted(path.name for path in Path(folder).glob("*part*")) == []


class TestPartitionedReplayOnPostgreSQL(OnPostgreSQL, PartitionedReplayOnStore):
    pass

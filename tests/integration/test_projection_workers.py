"""Projection workers on PostgreSQL: ``ledger project-worker`` processes share the live views'
units through advisory locks; one killed has its units taken over, one started later gets a
share, and the views they leave equal a replay by one projector."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.demo.decade import run as run_demo
from projections.engine.projector import Projector
from projections.engine.rebuild import rebuild_and_compare
from projections.engine.workers import ProjectionWorker, UnitEvents
from projections.reads.read_side import views_position
from projections.storage.claims import Claims, ClaimsSeen
from projections.storage.opening import open_views, postgres_conninfo
from projections.storage.schema import VIEWS_SCHEMA, drop_views
from tests.processes import new_key

SCALE = 0.003
BATCH_SIZE = 20  # small batches, so that a worker is killed with work left
WAIT_SECONDS = 180
STOP_SECONDS = 30
POLL_SECONDS = 0.05  # the service poller's interval


class Worker:
    """``ledger project-worker`` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        ledger = Path(sys.executable).with_name("ledger")
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(ledger), "project-worker", "--batch-size", str(BATCH_SIZE)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log = log

    @property
    def name(self) -> str:
        return f"{os.uname().nodename}:{self.process.pid}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(STOP_SECONDS)


def wait_until(what: str, condition: Callable[[], bool], workers: list[Worker]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(w.log.read_text() for w in workers)
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}\n{logs}")
        time.sleep(0.02)


@pytest.fixture
def env(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    settings = {
        "LEDGER_ENVIRONMENT": "production",
        "LEDGER_DATABASE_URL": postgres_url,
        "LEDGER_PERSONAL_DATA_KEY": new_key(),
        "LEDGER_PERSON_REF_KEY": new_key(),
        "LEDGER_JWT_SECRET": new_key(),
        "LEDGER_SIGNING_KEY": new_key(),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}, **settings}


@pytest.fixture
def runtime(env: dict[str, str]) -> Iterator[Runtime]:
    with opened(Settings()) as runtime:
        yield runtime


def test_workers_take_over_a_killed_workers_units_and_share_with_a_new_one(
    runtime: Runtime, env: dict[str, str], tmp_path: Path
) -> None:
    result = run_demo(runtime, 5, SCALE, lambda _: None)
    assert result.verified
    ledger = runtime.ledger
    drop_views(runtime.views)  # the decade is recorded; its views are for the workers to make
    units = UnitEvents(ledger.mapper)
    units.place(ledger.recorder)
    assert units.placed == result.events
    observer = ClaimsSeen(postgres_conninfo(ledger.env), VIEWS_SCHEMA)
    workers = [Worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:

        def holdings() -> dict[str, int]:
            held: dict[str, int] = {}
            for name in observer.claimants(units.units).values():
                held[name] = held.get(name, 0) + 1
            return held

        first, second = workers
        wait_until(
            "both workers hold units and have projected some events",
            lambda: (
                first.name in holdings()
                and second.name in holdings()
                and views_position(runtime.views) > 0
            ),
            workers,
        )
        assert views_position(runtime.views) < result.events, "killed after the work was done"
        killed_held = {u for u, n in observer.claimants(units.units).items() if n == first.name}
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(STOP_SECONDS)
        killed_at = time.monotonic()
        wait_until(
            "the surviving worker holds every unit",
            lambda: holdings() == {second.name: len(units.units)},
            workers,
        )
        takeover = time.monotonic() - killed_at
        print(
            f"\n{result.events} events, {len(units.units)} units: the {len(killed_held)} units "
            f"of a SIGKILLed worker taken over in {takeover:.3f} s"
        )

        third = Worker(env, tmp_path / "worker2.log")
        workers.append(third)
        wait_until(
            "the third worker gets a share and the second gives it up",
            lambda: (
                holdings().get(third.name, 0) >= len(units.units) // 2
                and holdings().get(second.name, 0) <= (len(units.units) + 1) // 2
            ),
            workers,
        )
        wait_until(
            "the views reach the last event",
            lambda: views_position(runtime.views) == result.events,
            workers,
        )
    finally:
        for worker in workers:
            worker.stop()
        observer.close()
    scratch = open_views(ledger.env, schema="ledger_rebuild")
    try:
        differences = rebuild_and_compare(ledger.recorder, ledger.mapper, runtime.views, scratch)
    finally:
        scratch.close()
    assert differences == []
    assert "claimed" in (tmp_path / "worker2.log").read_text()
    assert "released" in (tmp_path / "worker1.log").read_text()


def test_a_worker_takes_over_from_a_projector_midway_the_service_follows_and_project_refuses(
    runtime: Runtime,
) -> None:
    result = run_demo(runtime, 7, SCALE, lambda _: None)
    ledger = runtime.ledger
    drop_views(runtime.views)
    projector = Projector(ledger.recorder, ledger.mapper, runtime.views, batch_size=500)
    for _ in range(4):
        projector.run_batch()
    handover = views_position(runtime.views)
    assert 0 < handover < result.events
    claims = Claims(postgres_conninfo(ledger.env), VIEWS_SCHEMA, "in-test")
    try:
        worker = ProjectionWorker(ledger.recorder, ledger.mapper, runtime.views, claims, 200)
        # The service, started beside the worker, follows it rather than project too.
        with opened(Settings(), project=True) as service:
            time.sleep(10 * POLL_SECONDS)  # a poller that projected would have moved the views
            assert views_position(runtime.views) == handover
            assert service.read_side.position == handover
            while views_position(runtime.views) < result.events:
                assert worker.round(), "a round projected nothing before the views were done"
            assert service.read_side.wait_for(result.events) == result.events
        assert claims.held == set(worker.events.units)  # the only worker holds every unit
    finally:
        claims.close()
    scratch = open_views(ledger.env, schema="ledger_rebuild")
    try:
        differences = rebuild_and_compare(ledger.recorder, ledger.mapper, runtime.views, scratch)
    finally:
        scratch.close()
    assert differences == []
    outcome = CliRunner().invoke(main, ["project"])
    assert outcome.exit_code == 1
    assert "projection workers keep these views" in outcome.output


def test_a_worker_refuses_sqlite(sqlite_url: str) -> None:
    with opened(Settings(database_url=sqlite_url)):
        pass
    outcome = CliRunner().invoke(main, ["project-worker"], env={"LEDGER_DATABASE_URL": sqlite_url})
    assert outcome.exit_code == 1
    assert "projection workers claim their work through PostgreSQL" in outcome.output

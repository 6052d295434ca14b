"""Property: over random decision histories (those of ``test_read_side_properties``), a
replay by two or three worker processes holds the same rows as one projector's replay."""

from __future__ import annotations

from contextlib import suppress
from uuid import UUID

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.core.replay_source import LedgerReplaySource
from api.services.closing import close_period
from domain.errors import LedgerRefusal
from projections.engine.parallel_replay import replay_in_processes
from projections.engine.projector import Projector
from projections.engine.rebuild import replay
from projections.storage.opening import open_views
from tests.integration.test_parallel_replay import table_digests
from tests.integration.test_read_side_properties import (
    CLOSED_PROGRAMMES,
    MONTHS,
    RECOVERY_HISTORY,
    Step,
    apply,
    fresh_postgres,
    fresh_sqlite,
    steps,
)
from tests.support import QIBIN, ledger_at, set_reference_standards

SCRATCH = "ledger_rebuild"


def check_history(database_url: str, history: list[Step], workers: int) -> None:
    ledger = ledger_at(database_url)
    views, scratch = open_views(ledger.env), open_views(ledger.env, schema=SCRATCH)
    try:
        set_reference_standards(ledger)
        set_reference_standards(ledger, "410602")  # a second region's schedules
        projector = Projector(ledger.recorder, ledger.mapper, views, batch_size=5)
        cases: list[UUID] = []
        asked: list[UUID] = []
        next_close = {programme: MONTHS[0] for programme in CLOSED_PROGRAMMES}
        for step in history:
            if step.kind == "close":
                programme = CLOSED_PROGRAMMES[step.who % len(CLOSED_PROGRAMMES)]
                for _ in range(2 * step.number):
                    projector.catch_up()
                    close_period(ledger, views, programme, QIBIN, next_close[programme], actor="f")
                    next_close[programme] += 1
            elif step.kind != "project":
                with suppress(LedgerRefusal):
                    apply(ledger, step, cases, asked)
        position = ledger.position
        assert replay(ledger.recorder, ledger.mapper, scratch, position) == position
        single = table_digests(scratch)
        source = LedgerReplaySource.of(ledger, SCRATCH)
        report = replay_in_processes(
            ledger.recorder, ledger.mapper, scratch, position, workers, source
        )
        assert report.reached == position
        assert table_digests(scratch) == single
    finally:
        views.close()
        scratch.close()
        ledger.close()


@example(history=RECOVERY_HISTORY, workers=2)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps, workers=st.integers(2, 3))
def test_random_histories_replay_alike_by_processes_on_sqlite(
    history: list[Step], workers: int
) -> None:
    with fresh_sqlite() as url:
        check_history(url, history, workers)


@pytest.mark.postgres
@example(history=RECOVERY_HISTORY, workers=3)
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=steps, workers=st.integers(2, 3))
def test_random_histories_replay_alike_by_processes_on_postgresql(
    postgres_admin_url: str, history: list[Step], workers: int
) -> None:
    with fresh_postgres(postgres_admin_url) as url:
        check_history(url, history, workers)

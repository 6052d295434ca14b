"""The long commands report how far they have come (rebuild, verify, the charts), and the
command line draws it only on a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.cli.charts import months_to_read, write_charts
from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from api.services.verification import verify
from domain.application.recording import SaveAt
from projections.engine.rebuild import rebuild_and_compare
from projections.storage.opening import open_views
from tests.integration.test_read_side import record_a_small_history
from tests.support import at, set_reference_standards


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    # A history recorded in 2019 and 2020, before household verification began.
    settings = Settings(database_url=url, verification_required_from=date(2021, 1, 1))
    with opened(settings) as runtime:
        ledger = runtime.ledger
        set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
        record_a_small_history(ledger)
        runtime.projector.catch_up()
        yield runtime


def test_verify_rebuild_and_the_charts_report_progress_up_to_their_end(
    runtime: Runtime, tmp_path: Path
) -> None:
    position = runtime.read_side.position
    verified: list[int] = []
    verify(runtime.ledger, runtime.views, position, progress=verified.append)
    assert verified[-1] == position
    replayed: list[int] = []
    scratch = open_views(runtime.ledger.env, schema="ledger_rebuild")
    try:
        differences = rebuild_and_compare(
            runtime.ledger.recorder,
            runtime.ledger.mapper,
            runtime.views,
            scratch,
            progress=replayed.append,
        )
    finally:
        scratch.close()
    assert differences == []
    assert replayed == sorted(replayed) and replayed[-1] == position
    months: list[int] = []
    write_charts(runtime.views, 2020, position, tmp_path / "charts", months.append)
    assert months == list(range(1, months_to_read(runtime.views, 2020, position) + 1))


def test_no_progress_is_drawn_when_stderr_is_not_a_terminal(runtime: Runtime) -> None:
    for command in (["verify"], ["rebuild"], ["project"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines() == [f"ledger: {runtime.settings.database_label}"]

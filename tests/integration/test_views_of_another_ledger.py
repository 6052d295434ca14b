"""Views left beside a ledger that was replaced (a new ledger, another history, a restore from
an older backup) are refused wherever they are opened, with nothing read from or projected
into them, and `ledger rebuild --replace` builds them again from this ledger.

``ViewsFollowTheLedger`` holds every test; each store subclasses it with its own way of
replacing the ledger while the views stay: the ledger's file removed beside the views' file,
or the ledger's tables dropped beside the views' schema.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import psycopg
import pytest
import uvicorn
from click.testing import CliRunner, Result

from api.cli import main
from api.core.bootstrap import opened
from api.core.settings import Settings, sqlite_path
from projections.engine.projector import Projector
from projections.reads.followed_ledger import ViewsOfAnotherLedgerError
from projections.storage.database import Row
from projections.storage.opening import open_views, views_path
from tests.integration.replaced_ledger import (
    OnTheCommandLine,
    drop_postgres_ledger,
    grant_more,
    record_history,
    remove_sqlite_ledger,
)
from tests.support import (
    OnPostgreSQL,
    OnSQLite,
    ledger_at,
)

TOTALS = ["totals", "--as-of", "2020-07"]
REMEDY = "`ledger rebuild --replace`"


def new_empty_ledger(database_url: str) -> None:
    ledger_at(database_url).close()


def project(database_url: str) -> int:
    """Bring the views up to date; the position they reach."""
    with opened(Settings(database_url=database_url), create=False) as runtime:
        runtime.projector.catch_up()
        return runtime.read_side.position


def views_rows(database_url: str) -> list[Row]:
    """What the views hold: their tracking rows and how many rows each table has."""
    settings = Settings(database_url=database_url)
    settings.keep_development_keys()
    views = open_views(settings.ledger_env())
    try:
        rows = views.fetchall("SELECT name, position FROM tracking ORDER BY name")
        for table in ("positions", "audit_chain", "segments", "periods"):
            rows += views.fetchall(f"SELECT '{table}', COUNT(*) FROM {table}")
        return rows
    finally:
        views.close()


def error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


class ViewsFollowTheLedger(OnTheCommandLine):
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def replace_ledger(self, database_url: str) -> None:
        """Remove the ledger's events and checkpoints, and leave its views."""
        raise NotImplementedError

    @pytest.fixture
    def built(self, database_url: str) -> int:
        """A ledger with its views built; the position they reached."""
        position = record_history(database_url)
        assert project(database_url) == position
        return position

    def test_a_matching_ledger_and_views_reopen_and_go_on(
        self, database_url: str, built: int
    ) -> None:
        assert project(database_url) == built
        position = grant_more(database_url, 1)
        assert project(database_url) == position > built
        assert CliRunner().invoke(main, TOTALS).exit_code == 0

    def test_views_beside_a_new_empty_ledger_are_refused_until_rebuilt(
        self, database_url: str, built: int
    ) -> None:
        self.replace_ledger(database_url)
        new_empty_ledger(database_url)
        before = views_rows(database_url)
        with (
            pytest.raises(ViewsOfAnotherLedgerError) as refused,
            opened(Settings(database_url=database_url)),
        ):
            pass
        assert f"they are at position {built} but the ledger ends at 0" in str(refused.value)
        assert REMEDY in str(refused.value)
        for command in (TOTALS, ["project"], ["verify"], ["rebuild"]):
            line = error_line(CliRunner().invoke(main, command))
            assert f"at position {built} but the ledger ends at 0" in line, command
            assert REMEDY in line
        assert views_rows(database_url) == before

        assert CliRunner().invoke(main, ["rebuild", "--replace"]).exit_code == 0
        assert project(database_url) == 0
        assert record_history(database_url) == built
        assert project(database_url) == built
        assert CliRunner().invoke(main, ["rebuild"]).exit_code == 0

    @pytest.mark.parametrize("more", [0, 3], ids=["same-length", "longer"])
    def test_views_beside_another_history_are_refused_until_rebuilt(
        self, database_url: str, built: int, more: int
    ) -> None:
        self.replace_ledger(database_url)
        # Recorded with the same keys, the same-length history ends with the same event (a
        # standard raised at a fixed time): only the cases before it (other ids) differ.
        position = record_history(database_url, more=more)
        assert position >= built
        before = views_rows(database_url)
        ledger = ledger_at(database_url)
        views = open_views(ledger.env)
        try:
            with pytest.raises(ViewsOfAnotherLedgerError) as refused:
                Projector(ledger.recorder, ledger.mapper, views)
        finally:
            views.close()
            ledger.close()
        assert "is not the one they were built from" in str(refused.value)
        with (
            pytest.raises(ViewsOfAnotherLedgerError),
            opened(Settings(database_url=database_url), create=False, project=True),
        ):
            pass
        line = error_line(CliRunner().invoke(main, TOTALS))
        assert f"is not the one they were built from (they are at position {built}" in line
        assert views_rows(database_url) == before

        rebuilt = CliRunner().invoke(main, ["rebuild", "--replace"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert f"equal the live views at position {position}" in rebuilt.stdout
        assert project(database_url) == position
        assert CliRunner().invoke(main, TOTALS).exit_code == 0

    def test_the_demo_refuses_views_of_another_ledger(self, database_url: str, built: int) -> None:
        self.replace_ledger(database_url)
        line = error_line(CliRunner().invoke(main, ["demo", "--scale", "0.001"]))
        assert f"they are at position {built} but the ledger ends at 0" in line
        assert REMEDY in line

    def test_serve_refuses_views_of_another_ledger_before_it_starts(
        self, database_url: str, built: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.replace_ledger(database_url)
        monkeypatch.setattr(uvicorn, "run", lambda *_, **__: pytest.fail("the service started"))
        line = error_line(CliRunner().invoke(main, ["serve", "--port", "1"]))
        assert f"they are at position {built} but the ledger ends at 0" in line


class TestOnSQLite(OnSQLite, ViewsFollowTheLedger):
    def replace_ledger(self, database_url: str) -> None:
        remove_sqlite_ledger(database_url)
        assert views_path(str(sqlite_path(database_url))).is_file()

    def test_the_refusal_names_the_views_file(self, database_url: str, built: int) -> None:
        self.replace_ledger(database_url)
        new_empty_ledger(database_url)
        line = error_line(CliRunner().invoke(main, TOTALS))
        views_file = views_path(str(sqlite_path(database_url)))
        assert f"or remove the views' file {views_file}" in line
        views_file.unlink()
        assert project(database_url) == 0
        assert record_history(database_url) == built
        assert project(database_url) == built
        assert CliRunner().invoke(main, TOTALS).exit_code == 0

    def test_a_ledger_restored_from_an_older_backup_is_refused(
        self, database_url: str, tmp_path: Path
    ) -> None:
        ledger_file = sqlite_path(database_url)
        first = record_history(database_url)
        backup = tmp_path / "backup.db"
        with sqlite3.connect(ledger_file) as source, sqlite3.connect(backup) as copy:
            source.backup(copy)
        later = grant_more(database_url, 2)
        assert project(database_url) == later > first
        self.replace_ledger(database_url)
        shutil.copyfile(backup, ledger_file)
        line = error_line(CliRunner().invoke(main, TOTALS))
        assert f"they are at position {later} but the ledger ends at {first}" in line

        # Written on past the views' position from the backup: another history there.
        assert grant_more(database_url, 3) > later
        line = error_line(CliRunner().invoke(main, TOTALS))
        assert f"is not the one they were built from (they are at position {later}" in line

    def test_a_ledger_restored_from_a_backup_taken_after_the_views_goes_on(
        self, database_url: str, tmp_path: Path
    ) -> None:
        ledger_file = sqlite_path(database_url)
        first = record_history(database_url)
        assert project(database_url) == first
        later = grant_more(database_url, 2)
        backup = tmp_path / "backup.db"
        with sqlite3.connect(ledger_file) as source, sqlite3.connect(backup) as copy:
            source.backup(copy)
        self.replace_ledger(database_url)
        shutil.copyfile(backup, ledger_file)
        assert project(database_url) == later


class TestOnPostgreSQL(OnPostgreSQL, ViewsFollowTheLedger):
    def replace_ledger(self, database_url: str) -> None:
        drop_postgres_ledger(database_url)
        with psycopg.connect(database_url, autocommit=True) as connection:
            views = connection.execute("SELECT to_regclass('ledger_views.tracking')").fetchone()
        assert views is not None and views[0] is not None

    def test_the_refusal_names_the_views_schema(self, database_url: str, built: int) -> None:
        self.replace_ledger(database_url)
        new_empty_ledger(database_url)
        line = error_line(CliRunner().invoke(main, TOTALS))
        assert "DROP SCHEMA ledger_views CASCADE" in line


def test_views_never_built_follow_any_ledger(sqlite_url: str) -> None:
    position = record_history(sqlite_url)
    views_file = views_path(str(sqlite_path(sqlite_url)))
    sqlite3.connect(views_file).close()  # an empty file, as a read before any projection
    assert project(sqlite_url) == position

"""What the tests of a replaced ledger share: a small history recorded into a ledger, more
grants into it, the ledger removed while what lies beside it stays (on each store), and
the command line pointed at it."""

from __future__ import annotations

from datetime import date
from itertools import count
from pathlib import Path

import psycopg
import pytest

from api.core.settings import sqlite_path
from domain.application.recording import SaveAt
from tests.integration.test_read_side import record_a_small_history
from tests.support import QIBIN, at, ledger_at, person, set_reference_standards

PEOPLE = count(100)  # each grant's person, never one holding a case already


def record_history(database_url: str, *, more: int = 0) -> int:
    """Standards and a small history into a new ledger, and ``more`` grants now; its last
    position."""
    ledger = ledger_at(database_url)
    try:
        set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
        record_a_small_history(ledger)
    finally:
        ledger.close()
    return grant_more(database_url, more)


def grant_more(database_url: str, grants: int) -> int:
    """``grants`` grants now into the ledger; its last position."""
    ledger = ledger_at(database_url)
    try:
        for _ in range(grants):
            ledger.grant(
                "elderly-allowance",
                QIBIN,
                "2020-05",
                [person(date(1931, 1, 1), next(PEOPLE))],
                actor="cw",
                reason="80+",
            )
        return ledger.position
    finally:
        ledger.close()


def remove_sqlite_ledger(database_url: str) -> None:
    """The ledger's file gone, with its journal; the files beside it stay."""
    path = sqlite_path(database_url)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def drop_postgres_ledger(database_url: str) -> None:
    """The ledger's tables gone; the schemas beside them stay."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


class OnTheCommandLine:
    """Tests whose commands open the ledger at their ``database_url``, with their keys in
    the test's folder."""

    @pytest.fixture(autouse=True)
    def command_line(
        self, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
        monkeypatch.setenv("LEDGER_KEYS_FOLDER", str(tmp_path))

"""Fresh, empty databases for one benchmark run, dropped afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from api.core.settings import postgres_url_with_dbname
from scripts.benchmarks.raw import RawPostgres, RawSQLite, RawStore

Store = Literal["sqlite", "postgresql"]
DEFAULT_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"
CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class BenchDatabase:
    """Where the ledger under test lives, and where its raw twin lives (another file, or
    another database on the same server)."""

    store: Store
    ledger_url: str
    raw_target: str

    def open_raw(self) -> RawStore:
        raw: RawStore
        if self.store == "sqlite":
            raw = RawSQLite(Path(self.raw_target))
        else:
            raw = RawPostgres(self.raw_target)
        raw.create()
        return raw


def postgres_server_url() -> str:
    return os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_available(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT):
            return True
    except psycopg.Error:
        return False


@contextmanager
def fresh_database(store: Store, folder: Path, name: str) -> Iterator[BenchDatabase]:
    if store == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=folder))
        try:
            yield BenchDatabase(
                store, f"sqlite:///{directory / 'ledger.db'}", str(directory / "raw.db")
            )
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    server = postgres_server_url()
    suffix = uuid.uuid4().hex[:8]
    ledger_db, raw_db = f"bench_{name}_{suffix}", f"bench_{name}_raw_{suffix}"
    with psycopg.connect(server, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as admin:
        for db in (ledger_db, raw_db):
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    try:
        yield BenchDatabase(
            store,
            postgres_url_with_dbname(server, ledger_db),
            postgres_url_with_dbname(server, raw_db),
        )
    finally:
        with psycopg.connect(server, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as admin:
            for db in (ledger_db, raw_db):
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
                )

"""Where a ledger's views live: beside its SQLite file, or in its PostgreSQL database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from psycopg.conninfo import make_conninfo

from projections.storage.database import PostgresViews, SQLiteViews, ViewDatabase

VIEWS_SCHEMA = "ledger_views"


def views_path(ledger_path: str) -> Path:
    path = Path(ledger_path)
    return path.with_name(f"{path.stem}-views{path.suffix or '.db'}")


def postgres_conninfo(env: Mapping[str, str], **options: str | int) -> str:
    """The libpq connection string of the ledger's PostgreSQL database, from its env."""
    return make_conninfo(
        "",
        dbname=env["POSTGRES_DBNAME"],
        host=env.get("POSTGRES_HOST", "127.0.0.1"),
        port=env.get("POSTGRES_PORT", "5432"),
        user=env.get("POSTGRES_USER", ""),
        password=env.get("POSTGRES_PASSWORD", ""),
        **options,
    )


def open_views(env: Mapping[str, str], *, schema: str = VIEWS_SCHEMA) -> ViewDatabase:
    """Open the views of the ledger configured by ``env`` (the Ledger's environment)."""
    module = env.get("PERSISTENCE_MODULE", "")
    timeout = float(env.get("SQLITE_LOCK_TIMEOUT") or env.get("POSTGRES_CONNECT_TIMEOUT") or 5)
    if module == "eventsourcing.sqlite":
        path = views_path(env["SQLITE_DBNAME"])
        if schema != VIEWS_SCHEMA:
            path = path.with_name(f"{path.stem}-{schema}{path.suffix}")
        return SQLiteViews(path, timeout)
    if module == "eventsourcing.postgres":
        return PostgresViews(postgres_conninfo(env), schema, timeout)
    if module == "eventsourcing.popo":
        return SQLiteViews(":memory:")
    raise ValueError(f"no views for persistence module {module!r}")

"""Shared fixtures: database URLs for the ledger's stores.

PostgreSQL tests need ``LEDGER_TEST_DATABASE_URL`` (``scripts/test`` finds or starts a
server and sets it). Its role must be allowed to ``CREATE DATABASE``: every test that uses
``postgres_url`` gets a fresh, empty database, dropped afterwards. Without the variable
those tests fail; they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import Phase, settings
from psycopg import sql

from api.core.settings import postgres_url_with_dbname

# Property tests check rules, not speed: an example that runs slowly on a loaded machine is
# not a failure, so no example has a deadline.
settings.register_profile("ledger", deadline=None)
settings.load_profile("ledger")
# Mutation testing (scripts/mutation) asks only whether a test fails: a failing example is
# not shrunk, which would run the test again dozens of times for each mutant it kills.
settings.register_profile(
    "mutation", deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate)
)

DATABASE_URL_ENV = "LEDGER_TEST_DATABASE_URL"
TEST_DATABASE_PREFIX = "ledger_t_"
CONNECT_TIMEOUT_SECONDS = 10


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of the PostgreSQL server the tests may create databases on."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        pytest.fail(
            f"{DATABASE_URL_ENV} is not set: this test needs PostgreSQL. Run ./scripts/test "
            f"(it finds or starts a local server), or set {DATABASE_URL_ENV} to a server whose "
            "role may CREATE DATABASE, e.g. postgresql://postgres@127.0.0.1:5432/postgres",
            pytrace=False,
        )
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    dbname = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(dbname)
    with psycopg.connect(
        postgres_admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield postgres_url_with_dbname(postgres_admin_url, dbname)
    finally:
        with psycopg.connect(
            postgres_admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a not-yet-existing SQLite database file in the test's tmp_path."""
    return f"sqlite:///{tmp_path}/ledger.db"

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
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DATABASE_URL_ENV = "LEDGER_TEST_DATABASE_URL"
TEST_DATABASE_PREFIX = "ledger_t_"
CONNECT_TIMEOUT_SECONDS = 10


def postgres_url_with_dbname(url: str, dbname: str) -> str:
    """Return ``url`` (a libpq URL or key=value string) pointing at ``dbname`` instead.

    User, password, host, port and every other parameter are kept. The result is always a
    ``postgresql://`` URL; hosts that do not fit in one (Unix socket directories, host
    lists) go into the query string, which libpq and psycopg understand.
    """
    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    params["dbname"] = dbname
    user = params.pop("user", None)
    password = params.pop("password", None)
    host = params.get("host", "")
    port = params.get("port", "")
    netloc = ""
    if host and "," not in host and not host.startswith("/") and "," not in port:
        del params["host"]
        netloc = f"[{host}]" if ":" in host else quote(host, safe="")
        if port:
            del params["port"]
            netloc = f"{netloc}:{port}"
    if user is not None:
        userinfo = quote(user, safe="")
        if password is not None:
            userinfo = f"{userinfo}:{quote(password, safe='')}"
        netloc = f"{userinfo}@{netloc}"
    del params["dbname"]
    query = f"?{urlencode(params, quote_via=quote)}" if params else ""
    result = f"postgresql://{netloc}/{quote(dbname, safe='')}{query}"
    # make_conninfo() validates the URL with libpq's own parser.
    expected = make_conninfo(url, dbname=dbname)
    assert conninfo_to_dict(result) == conninfo_to_dict(expected), (result, expected)
    return result


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

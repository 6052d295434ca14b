"""PostgreSQL roles for the tests of the event store's protection: an owner that creates the
tables, and a service role that records."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from api.core.settings import Settings
from domain.application.ledger import Ledger
from projections.storage.protection import create_service_role, protect_event_store


def url_as(url: str, role: str, password: str) -> str:
    """``url`` with ``role`` and ``password`` as its user."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{quote(role, safe='')}:{quote(password, safe='')}@{host}")
    )


def postgres_ledger(url: str, *, create_tables: bool) -> Ledger:
    return Ledger(Settings(database_url=url, create_tables=create_tables).ledger_env())


@dataclass(frozen=True)
class Roles:
    owner: str
    owner_url: str
    service: str
    service_url: str


@pytest.fixture
def roles(postgres_url: str) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:12]
    owner, service = f"ledger_own_{suffix}", f"ledger_svc_{suffix}"
    password = secrets.token_hex(16)
    try:
        for role in (owner, service):
            create_service_role(postgres_url, role, password)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # PostgreSQL < 15
            admin.execute(
                sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(owner))
            )
        yield Roles(
            owner,
            url_as(postgres_url, owner, password),
            service,
            url_as(postgres_url, service, password),
        )
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            # The views' schemas belong to the service role; tests also keep views there.
            admin.execute("DROP SCHEMA IF EXISTS ledger_views, ledger_rebuild CASCADE")
            for role in (service, owner):
                if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                    admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def service_ledger(roles: Roles, postgres_url: str) -> Iterator[Ledger]:
    """A Ledger running as the service role on tables the owner created and a superuser
    (the test server's role) protected."""
    postgres_ledger(roles.owner_url, create_tables=True).close()
    protect_event_store(postgres_url, roles.owner_url, roles.service)
    ledger = postgres_ledger(roles.service_url, create_tables=False)
    yield ledger
    ledger.close()

"""After ``ledger protect``, the service role delivers the change feed with the subscriptions'
tables the owner made, and may do nothing more with them: no deleting what delivery keeps,
no redirecting a subscription or changing its secret, no DDL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from domain.application.ledger import Ledger
from projections.storage.opening import open_views
from projections.storage.protection import protect_event_store
from projections.storage.subscriptions import (
    CURSOR_COLUMNS,
    DELIVERY_SCHEMA,
    DELIVERY_TABLES,
    Attempt,
    SubscriptionStore,
    now_us,
)
from tests.integration.conftest import Roles
from tests.support import QIBIN

pytestmark = pytest.mark.postgres

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES")
SUBSCRIPTION_COLUMNS = (
    "id",
    "kind",
    "target",
    "sealed_secret",
    "owner",
    "role",
    "served",
    "filters",
    "created_us",
    *CURSOR_COLUMNS,
)


@pytest.fixture
def store(service_ledger: Ledger) -> Iterator[SubscriptionStore]:
    """The subscriptions as the service role opens them."""
    key = service_ledger.env["LEDGER_PERSONAL_DATA_KEY"]
    cipher = AESCipher(Environment(env={"CIPHER_KEY": key}))
    store = SubscriptionStore(open_views(service_ledger.env, schema=DELIVERY_SCHEMA), cipher)
    yield store
    store.views.close()


def test_the_service_role_delivers_with_the_tables_the_owner_made(
    store: SubscriptionStore, roles: Roles, postgres_url: str
) -> None:
    made = store.create(
        "webhook", "http://127.0.0.1:9/hook", "whsec_c2VjcmV0", "cw", "caseworker",
        frozenset({QIBIN}), {}, 0,
    )  # fmt: skip
    assert store.lease(made.id, "worker-1", 30)
    delivered = Attempt(1, 1, now_us(), "delivered", 204, None, 900)
    assert store.acknowledge(made.id, "worker-1", 1, [delivered], 30)
    failed = Attempt(2, 1, now_us(), "failed", 500, "answered 500", 900)
    store.failed(made.id, "worker-1", failed, now_us())
    store.release(made.id, "worker-1")
    again = store.redeliver(made.id, 0, 0)
    assert again is not None and (again.acknowledged, again.state) == (0, "active")
    assert store.cancel(made.id)
    store.keep_transaction("cw", "province", "T-1", "on-search", "succ", "{}")
    store.keep_transaction("cw", "province", "T-1", "on-search", "rjct", "{}")

    assert [a.outcome for a in store.attempts(made.id)] == ["delivered", "failed"]
    assert store.transaction("cw", "province", "T-1") == [("on-search", "rjct", "{}")]
    kept = store.get(made.id)
    assert kept is not None and (kept.state, kept.secret) == ("cancelled", "whsec_c2VjcmV0")
    with psycopg.connect(postgres_url) as admin:
        owners = admin.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = %s", (DELIVERY_SCHEMA,)
        ).fetchall()
    assert owners == [(roles.owner,)] * len(DELIVERY_TABLES)


def test_the_service_role_may_only_read_add_and_move_a_subscriptions_cursor(
    store: SubscriptionStore, service_ledger: Ledger, roles: Roles, postgres_url: str
) -> None:
    protect_event_store(postgres_url, roles.owner_url, roles.service)  # twice: no more rights
    with psycopg.connect(postgres_url) as admin:

        def holds(sql: str, *args: str) -> bool:
            return admin.execute(sql, (roles.service, *args)).fetchone() == (True,)

        granted = {
            table: {
                privilege
                for privilege in TABLE_PRIVILEGES
                if holds(
                    "SELECT has_table_privilege(%s, %s, %s)",
                    f"{DELIVERY_SCHEMA}.{table}",
                    privilege,
                )
            }
            for table in DELIVERY_TABLES
        }
        updatable = {
            column
            for column in SUBSCRIPTION_COLUMNS
            if holds(
                "SELECT has_column_privilege(%s, %s, %s, 'UPDATE')",
                f"{DELIVERY_SCHEMA}.subscriptions",
                column,
            )
        }
        may_create = holds("SELECT has_schema_privilege(%s, %s, 'CREATE')", DELIVERY_SCHEMA)
    assert granted == {table: {"SELECT", "INSERT"} for table in DELIVERY_TABLES}
    assert updatable == set(CURSOR_COLUMNS)
    assert not may_create

    refused = (
        f"DELETE FROM {DELIVERY_SCHEMA}.delivery_attempts",
        f"DELETE FROM {DELIVERY_SCHEMA}.dci_transactions",
        f"DELETE FROM {DELIVERY_SCHEMA}.subscriptions",
        f"TRUNCATE {DELIVERY_SCHEMA}.subscriptions",
        f"UPDATE {DELIVERY_SCHEMA}.subscriptions SET target = 'http://elsewhere.example/'",
        f"UPDATE {DELIVERY_SCHEMA}.subscriptions SET sealed_secret = ''",
        f"UPDATE {DELIVERY_SCHEMA}.delivery_attempts SET outcome = 'delivered'",
        f"DROP TABLE {DELIVERY_SCHEMA}.dci_transactions",
        f"ALTER TABLE {DELIVERY_SCHEMA}.subscriptions ADD COLUMN note TEXT",
        f"CREATE TABLE {DELIVERY_SCHEMA}.shadow (id TEXT)",
    )
    with psycopg.connect(roles.service_url, autocommit=True) as service:
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                service.execute(statement)

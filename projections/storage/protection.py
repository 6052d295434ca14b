"""PostgreSQL roles and triggers that keep the ledger's events append-only (DESIGN section 8).

An owner role constructs the Ledger once with ``CREATE_TABLE=y`` (the library then creates
``ledger_events``, its ``notification_id`` sequence, the composite type ``stored_event_uuid``
and the function ``es_insert_events_uuid``; the ledger's recorder adds the function
``ledger_insert_stored_event_uuid`` it saves through; the application creates no tracking
table) and runs ``protect_event_store``. The service runs as another role with
``CREATE_TABLE=n``; both functions run with the privileges of their caller.

The service role may SELECT and INSERT the events and use their sequence. It is also granted
UPDATE, only because every save takes ``LOCK TABLE ledger_events IN EXCLUSIVE MODE`` first
(so that positions are committed in order), and PostgreSQL allows that lock mode
only to a role with UPDATE, DELETE or TRUNCATE on the table. UPDATE is the least of the
three, and the row trigger below refuses every actual update, as it refuses DELETE; a
statement trigger refuses TRUNCATE. The triggers bind the owner too; only a superuser can
bypass them (``session_replication_role = replica``), which the audit chain then detects.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

SCHEMA = "public"  # the library's default; the ledger does not set POSTGRES_SCHEMA
EVENT_TABLES = ("ledger_events",)  # the Ledger application's name + "_events"
REFUSE_FUNCTION = "ledger_refuse_event_change"

_CREATE_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger events are immutable: % refused on %', TG_OP, TG_TABLE_NAME
        USING HINT = 'record a correcting decision instead';
END
$$
"""

_TRIGGERS = (  # name suffix, events, level
    ("refuse_update_delete", "BEFORE UPDATE OR DELETE", "ROW"),
    ("refuse_truncate", "BEFORE TRUNCATE", "STATEMENT"),
)

# A sequence that belongs to a column of the table (serial, bigserial or identity).
_OWNED_SEQUENCES = """
SELECT n.nspname, s.relname
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_namespace n ON n.oid = s.relnamespace
WHERE d.classid = 'pg_class'::regclass
  AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = %s::regclass
  AND d.deptype IN ('a', 'i')
ORDER BY s.relname
"""


def create_service_role(admin_conninfo: str, role: str, password: str | None = None) -> None:
    """Create ``role`` (or reset an existing one) as a plain login role: no superuser, no
    CREATE DATABASE, no CREATE ROLE. Run as a role that may create roles."""
    attributes: sql.Composable = sql.SQL(
        "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    )
    if password is not None:
        attributes = sql.SQL("{} PASSWORD {}").format(attributes, sql.Literal(password))
    with psycopg.connect(admin_conninfo, autocommit=True) as connection:
        existing = connection.execute(
            "SELECT rolname = current_user FROM pg_roles WHERE rolname = %s", (role,)
        ).fetchone()
        if existing == (True,):
            raise ValueError(f"{role} is the role running this; it would lose its rights")
        verb = sql.SQL("CREATE ROLE" if existing is None else "ALTER ROLE")
        connection.execute(sql.SQL("{} {} {}").format(verb, sql.Identifier(role), attributes))


def protect_event_store(owner_conninfo: str, service_role: str) -> None:
    """Install the refusing triggers on the event tables and give ``service_role`` exactly
    what the library needs. Run as the tables' owner, after they were created; idempotent."""
    service = sql.Identifier(service_role)
    function = sql.Identifier(SCHEMA, REFUSE_FUNCTION)
    with psycopg.connect(owner_conninfo) as connection, connection.transaction():
        if connection.execute("SELECT current_user = %s", (service_role,)).fetchone() == (True,):
            raise ValueError("the service role must not be the owner of the event tables")
        connection.execute(sql.SQL(_CREATE_REFUSE_FUNCTION).format(function=function))
        for name in EVENT_TABLES:
            qualified = f"{SCHEMA}.{name}"
            if connection.execute("SELECT to_regclass(%s)", (qualified,)).fetchone() == (None,):
                raise LookupError(
                    f"{qualified} does not exist: construct the Ledger as the owner role with "
                    "CREATE_TABLE=y first"
                )
            table = sql.Identifier(SCHEMA, name)
            for suffix, events, level in _TRIGGERS:
                trigger = sql.Identifier(f"{name}_{suffix}")
                connection.execute(
                    sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger, table)
                )
                connection.execute(
                    sql.SQL("CREATE TRIGGER {} {} ON {} FOR EACH {} EXECUTE FUNCTION {}()").format(
                        trigger, sql.SQL(events), table, sql.SQL(level), function
                    )
                )
            connection.execute(
                sql.SQL("REVOKE ALL ON TABLE {} FROM PUBLIC, {}").format(table, service)
            )
            connection.execute(
                sql.SQL("GRANT SELECT, INSERT, UPDATE ON TABLE {} TO {}").format(table, service)
            )
            for sequence_schema, sequence_name in connection.execute(
                _OWNED_SEQUENCES, (qualified,)
            ).fetchall():
                sequence = sql.Identifier(sequence_schema, sequence_name)
                connection.execute(
                    sql.SQL("REVOKE ALL ON SEQUENCE {} FROM PUBLIC, {}").format(sequence, service)
                )
                connection.execute(
                    sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sequence, service)
                )
        connection.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCHEMA), service)
        )

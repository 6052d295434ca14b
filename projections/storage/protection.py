"""PostgreSQL roles, triggers and a guard that keep the ledger's events append-only
(DESIGN section 8; docs/reliability.md, "Tamper", says what each role can and cannot do).

An owner role constructs the Ledger once with ``CREATE_TABLE=y`` (the library then creates
``ledger_events``, its ``notification_id`` sequence, the composite type ``stored_event_uuid``
and the function ``es_insert_events_uuid``; the ledger's recorder adds the function
``ledger_insert_stored_event_uuid`` it saves through, the constraint that positions start at
1 and the table of signed checkpoints, ``ledger_checkpoints``; the application creates no
tracking table). A superuser then runs ``protect_event_store``. The service runs as another
role with ``CREATE_TABLE=n``; both functions run with the privileges of their caller.

What each role may do afterwards:

- The service role may SELECT the events and INSERT them, in every column but
  ``notification_id`` (so never at a position of its choosing), and use their sequence; it
  may SELECT and INSERT checkpoints. It is also granted UPDATE on the events, only because
  every save takes ``LOCK TABLE ledger_events IN EXCLUSIVE MODE`` first (so that positions
  are committed in order), and PostgreSQL allows that lock mode only to a role with UPDATE,
  DELETE or TRUNCATE on the table. UPDATE is the least of the three, and a row trigger
  refuses every actual update, as it refuses DELETE; a statement trigger refuses TRUNCATE.
  It owns the views' schemas (``ledger_views``, and ``ledger_rebuild`` for ``ledger
  rebuild``), which protect creates, so it needs no CREATE on the database.
- The subscriptions to the change feed (``ledger_delivery``: ``subscriptions``,
  ``delivery_attempts``, ``dci_transactions``) are not views and cannot be rebuilt, so their
  schema and tables belong to the owner, created by protect. The service may read them and
  add rows; of a subscription it may UPDATE only how far it is delivered (its cursor, state,
  attempts and lease), never where it delivers or its secret; it may not DELETE or TRUNCATE
  any of them, so a delivery attempt logged or a DCI answer kept stays.
- The owner keeps owning the tables, so that it can start the Ledger with ``CREATE_TABLE=y``
  again (the library's ``CREATE … IF NOT EXISTS`` are then no-ops). The triggers refuse its
  UPDATE, DELETE and TRUNCATE, and the constraint its rows at positions below 1. An owner may
  ordinarily disable a trigger, drop a constraint or replace a function; here an event
  trigger installed by protect, owned by the superuser, refuses any DDL by a role that is
  not a superuser on the guarded tables, their triggers, constraints, rules and policies,
  and the refusing function. The owner can still insert rows, as any writer could: they are
  unsigned, and the command side and ``ledger verify`` refuse them.
- Only a superuser can bypass the triggers (``session_replication_role = replica``), drop
  the guard or the constraint. What a superuser does without the signing key,
  ``ledger verify`` names at its position.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from projections.storage.event_store import positions_constraint
from projections.storage.event_table import CHECKPOINTS_TABLE
from projections.storage.schema import VIEWS_SCHEMA
from projections.storage.subscriptions import (
    CREATE as CREATE_DELIVERY_TABLES,
)
from projections.storage.subscriptions import (
    CURSOR_COLUMNS,
    DELIVERY_SCHEMA,
    DELIVERY_TABLES,
    SUBSCRIPTIONS,
)

SCHEMA = "public"  # the library's default; the ledger does not set POSTGRES_SCHEMA
EVENTS_TABLE = "ledger_events"  # the Ledger application's name + "_events"
EVENT_TABLES = (EVENTS_TABLE, CHECKPOINTS_TABLE)
EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state")
REFUSE_FUNCTION = "ledger_refuse_event_change"
GUARD_FUNCTION = "ledger_guard_event_tables"
GUARD_TRIGGERS = (("ledger_guard_ddl", "ddl_command_end"), ("ledger_guard_drop", "sql_drop"))
REBUILD_SCHEMA = "ledger_rebuild"  # the scratch views of ``ledger rebuild``

_CREATE_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger events are immutable: % refused on %', TG_OP, TG_TABLE_NAME
        USING HINT = 'record a correcting decision instead';
END
$$
"""

# Any DDL by a role that is not a superuser on a guarded object is refused: the object
# itself (a table also by its oid, which a rename keeps), or what hangs on a guarded table
# ("… on public.ledger_events": triggers, constraints, rules, policies); and, when
# dropped, the table's indexes too.
_CREATE_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
    guarded text[] := {guarded};
    tables oid[] := {tables};
    item record;
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        FOR item IN SELECT classid, objid, object_identity
                    FROM pg_event_trigger_dropped_objects() LOOP
            IF item.object_identity = ANY (guarded) OR (
                item.classid = 'pg_class'::regclass AND item.objid = ANY (tables)
            ) OR EXISTS (
                SELECT 1 FROM unnest(guarded) AS g
                WHERE right(item.object_identity, length(g) + 4) = ' on ' || g
                   OR starts_with(item.object_identity, g || '_')
            ) THEN
                RAISE EXCEPTION 'only a superuser may drop % (the ledger''s events)',
                    item.object_identity USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
    ELSE
        FOR item IN SELECT classid, objid, object_identity
                    FROM pg_event_trigger_ddl_commands() LOOP
            IF item.object_identity = ANY (guarded) OR (
                item.classid = 'pg_class'::regclass AND item.objid = ANY (tables)
            ) OR EXISTS (
                SELECT 1 FROM unnest(guarded) AS g
                WHERE right(item.object_identity, length(g) + 4) = ' on ' || g
            ) THEN
                RAISE EXCEPTION 'only a superuser may change % (the ledger''s events)',
                    item.object_identity USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
    END IF;
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

_ADD_CONSTRAINT = """
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = {qualified}::regclass AND conname = {name_literal}) THEN
        ALTER TABLE {table} ADD CONSTRAINT {name} CHECK (notification_id > 0) NOT VALID;
    END IF;
    BEGIN
        ALTER TABLE {table} VALIDATE CONSTRAINT {name};
    EXCEPTION WHEN check_violation THEN
        RAISE WARNING 'ledger events are stored at positions below 1: run ledger verify';
    END;
END
$do$
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


def protect_event_store(admin_conninfo: str, owner_conninfo: str, service_role: str) -> None:
    """Install the refusing triggers, the positions constraint and the guard on the event
    tables, give ``service_role`` exactly what the library needs, and create the views'
    schemas for it. Run as a superuser (only one may install an event trigger), after the
    owner created the tables; idempotent."""
    service = sql.Identifier(service_role)
    function = sql.Identifier(SCHEMA, REFUSE_FUNCTION)
    with psycopg.connect(owner_conninfo) as owner_connection:
        owner = owner_connection.execute("SELECT current_user").fetchone()
    if owner is None or owner[0] == service_role:
        raise ValueError("the service role must not be the owner of the event tables")
    with psycopg.connect(admin_conninfo) as connection, connection.transaction():
        if connection.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() != (True,):
            raise PermissionError(
                "protect needs a superuser: only one may install the guard that keeps even "
                "the tables' owner from disabling their triggers"
            )
        for name in EVENT_TABLES:
            qualified = f"{SCHEMA}.{name}"
            if connection.execute("SELECT to_regclass(%s)", (qualified,)).fetchone() == (None,):
                raise LookupError(
                    f"{qualified} does not exist: construct the Ledger as the owner role with "
                    "CREATE_TABLE=y first"
                )
        connection.execute(sql.SQL(_CREATE_REFUSE_FUNCTION).format(function=function))
        connection.execute(sql.SQL("ALTER FUNCTION {}() OWNER TO CURRENT_USER").format(function))
        for name in EVENT_TABLES:
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
        _grant_events(connection, service)
        connection.execute(
            sql.SQL("GRANT SELECT, INSERT ON TABLE {} TO {}").format(
                sql.Identifier(SCHEMA, CHECKPOINTS_TABLE), service
            )
        )
        connection.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCHEMA), service)
        )
        _install_guard(connection)
        for schema in (VIEWS_SCHEMA, REBUILD_SCHEMA):
            _views_schema(connection, schema, service_role)
        _delivery_schema(connection, str(owner[0]), service)


def _grant_events(connection: psycopg.Connection[Any], service: sql.Identifier) -> None:
    qualified = f"{SCHEMA}.{EVENTS_TABLE}"
    table = sql.Identifier(SCHEMA, EVENTS_TABLE)
    constraint = positions_constraint(EVENTS_TABLE)
    connection.execute(
        sql.SQL(_ADD_CONSTRAINT).format(
            qualified=sql.Literal(qualified),
            table=table,
            name=sql.Identifier(constraint),
            name_literal=sql.Literal(constraint),
        )
    )
    connection.execute(sql.SQL("GRANT SELECT, UPDATE ON TABLE {} TO {}").format(table, service))
    connection.execute(
        sql.SQL("GRANT INSERT ({}) ON TABLE {} TO {}").format(
            sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS)), table, service
        )
    )
    for sequence_schema, sequence_name in connection.execute(
        _OWNED_SEQUENCES, (qualified,)
    ).fetchall():
        sequence = sql.Identifier(str(sequence_schema), str(sequence_name))
        connection.execute(
            sql.SQL("REVOKE ALL ON SEQUENCE {} FROM PUBLIC, {}").format(sequence, service)
        )
        connection.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sequence, service))


def _install_guard(connection: psycopg.Connection[Any]) -> None:
    guarded = [f"{SCHEMA}.{name}" for name in EVENT_TABLES] + [f"{SCHEMA}.{REFUSE_FUNCTION}()"]
    tables = [
        row[0]
        for name in EVENT_TABLES
        for row in connection.execute("SELECT %s::regclass::oid", (f"{SCHEMA}.{name}",))
    ]
    function = sql.Identifier(SCHEMA, GUARD_FUNCTION)
    connection.execute(
        sql.SQL(_CREATE_GUARD_FUNCTION).format(
            function=function,
            guarded=sql.SQL("ARRAY[{}]::text[]").format(
                sql.SQL(", ").join(map(sql.Literal, guarded))
            ),
            tables=sql.SQL("ARRAY[{}]::oid[]").format(sql.SQL(", ").join(map(sql.Literal, tables))),
        )
    )
    connection.execute(sql.SQL("ALTER FUNCTION {}() OWNER TO CURRENT_USER").format(function))
    connection.execute(sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(function))
    for trigger, event in GUARD_TRIGGERS:
        name = sql.Identifier(trigger)
        connection.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(name))
        connection.execute(
            sql.SQL("CREATE EVENT TRIGGER {} ON {} EXECUTE FUNCTION {}()").format(
                name, sql.SQL(event), function
            )
        )


def _views_schema(connection: psycopg.Connection[Any], schema: str, service_role: str) -> None:
    """A schema the service's views live in: created for the service role, or, when it
    exists already, opened to it (the service then needs no CREATE on the database)."""
    name, service = sql.Identifier(schema), sql.Identifier(service_role)
    connection.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(name, service)
    )
    connection.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(name, service))


def _delivery_schema(
    connection: psycopg.Connection[Any], owner_role: str, service: sql.Identifier
) -> None:
    """The subscriptions' schema and tables, made by (or given to) the owner, and what the
    service may do with them."""
    schema, owner = sql.Identifier(DELIVERY_SCHEMA), sql.Identifier(owner_role)
    connection.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(schema, owner)
    )
    connection.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, owner))
    connection.execute(sql.SQL("SET LOCAL search_path = {}").format(schema))
    for statement in CREATE_DELIVERY_TABLES:
        connection.execute(statement)
    connection.execute("RESET search_path")
    tables = [sql.Identifier(DELIVERY_SCHEMA, name) for name in DELIVERY_TABLES]
    for table in tables:
        connection.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(table, owner))
        connection.execute(sql.SQL("REVOKE ALL ON TABLE {} FROM PUBLIC, {}").format(table, service))
        connection.execute(sql.SQL("GRANT SELECT, INSERT ON TABLE {} TO {}").format(table, service))
    connection.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC, {}").format(schema, service))
    connection.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, service))
    connection.execute(
        sql.SQL("GRANT UPDATE ({}) ON TABLE {} TO {}").format(
            sql.SQL(", ").join(map(sql.Identifier, CURSOR_COLUMNS)),
            sql.Identifier(DELIVERY_SCHEMA, SUBSCRIPTIONS),
            service,
        )
    )

"""The ledger's event recorders: the library's, with the event table refusing positions
below 1 and the signed checkpoints' table beside it; on PostgreSQL, each save in one round
trip.

Positions start at 1. The library reads an aggregate's events whatever their position but
walks the notification log from 1 up, so a row stored at position 0 or below would be
obeyed by the command side and never seen by a walk. The table refuses one: on SQLite a
trigger (a rowid is only known after the insert), on PostgreSQL a CHECK constraint, added
``NOT VALID`` and then validated so that a table already holding such a row still opens
(``ledger verify`` names the row). Both bind a superuser too, until dropped.

The library saves events as a pipeline: BEGIN, ``LOCK TABLE … IN EXCLUSIVE MODE``,
``NOTIFY``, the insert, a sync to read the new notification ids, then COMMIT. That is two
round trips and a good deal of client work for every decision. This recorder sends one
statement instead: a function that takes the same lock, with the same timeout, notifies and
inserts, in the statement's own transaction (the library's connections autocommit). The
lock is what keeps notification ids in commit order, so that the views' poller never
passes over an id that a slower transaction fills in later.

The library has a database function of its own, but it inserts without the lock, so it is
not used. Reads are the library's. ``tests/integration/test_library_recorder_cases.py``
runs the library's recorder test cases on this recorder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from eventsourcing.utils import Environment, EnvType, retry
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier, Literal

from projections.storage.database import writable_session
from projections.storage.event_table import CHECKPOINTS_TABLE

# The libpq parameters of the ledger's URL beyond those the library knows (its host, port,
# database, user and password), as a connection string: ``target_session_attrs=read-write``.
POSTGRES_OPTIONS = "POSTGRES_OPTIONS"

STORED_AMONG_AT_ONCE = 1_000  # ids in one SQLite query (its bound on parameters is higher)
SQLITE_CHECKPOINTS = (
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} ("
    " position INTEGER NOT NULL, adoption INTEGER NOT NULL, record TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {CHECKPOINTS_TABLE}_by_position ON {CHECKPOINTS_TABLE} (position)",
)


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, with positions from 1 and the checkpoints' table."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)

    def stored_among(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of ``originator_ids`` have events, in a query per thousand of them."""
        found: set[UUID] = set()
        for start in range(0, len(originator_ids), STORED_AMONG_AT_ONCE):
            ids = [i.hex for i in originator_ids[start : start + STORED_AMONG_AT_ONCE]]
            marks = ", ".join("?" for _ in ids)
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT DISTINCT originator_id FROM {self.events_table_name}"
                    f" WHERE originator_id IN ({marks})",
                    ids,
                )
                found.update(UUID(row[0]) for row in cursor.fetchall())
        return found

    def construct_create_table_statements(self) -> list[str]:
        table = self.events_table_name
        refuse = "BEGIN SELECT RAISE(ABORT, 'ledger positions start at 1'); END"
        return [
            *super().construct_create_table_statements(),
            f"CREATE TRIGGER IF NOT EXISTS {table}_positions_start_at_1 AFTER INSERT ON {table}"
            f" WHEN NEW.rowid <= 0 {refuse}",
            f"CREATE TRIGGER IF NOT EXISTS {table}_positions_stay_above_0 AFTER UPDATE ON {table}"
            f" WHEN NEW.rowid <= 0 {refuse}",
            *SQLITE_CHECKPOINTS,
        ]


def positions_constraint(table: str) -> str:
    return f"{table}_positions_start_at_1"


# Added when missing, by whoever may; validated when every row already complies.
_ADD_POSITIONS_CONSTRAINT = """
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = {qualified}::regclass AND conname = {name_literal}) THEN
        ALTER TABLE {table} ADD CONSTRAINT {name} CHECK (notification_id > 0) NOT VALID;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {qualified}::regclass
               AND conname = {name_literal} AND NOT convalidated) THEN
        BEGIN
            ALTER TABLE {table} VALIDATE CONSTRAINT {name};
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'ledger events are stored at positions below 1: run ledger verify';
        END;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'the positions constraint is missing on % and this role may not add it: '
        'run ledger protect', {qualified};
END
$do$
"""


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        function = Identifier(datastore.schema, f"ledger_insert_{self.stored_event_type_name}")
        table = Identifier(datastore.schema, events_table_name)
        constraint = positions_constraint(events_table_name)
        # Processes opening the ledger at once would otherwise race on the catalogue rows the
        # statements below replace ("tuple concurrently updated"); they run in one
        # transaction, so this lock holds until it commits.
        self.sql_create_statements.insert(
            0,
            SQL("SELECT pg_advisory_xact_lock(hashtext({key}))").format(
                key=Literal(f"ledger create {datastore.schema}.{events_table_name}")
            ),
        )
        self.sql_create_statements.append(
            SQL(_ADD_POSITIONS_CONSTRAINT).format(
                qualified=Literal(f'"{datastore.schema}"."{events_table_name}"'),
                table=table,
                name=Identifier(constraint),
                name_literal=Literal(constraint),
            )
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {checkpoints} ("
                " position bigint NOT NULL, adoption boolean NOT NULL, record text NOT NULL)"
            ).format(checkpoints=Identifier(datastore.schema, CHECKPOINTS_TABLE))
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {function}(events {event_type}[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $body$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT originator_id, originator_version, topic, state FROM unnest(events) "
                "RETURNING notification_id; "
                "END $body$"
            ).format(
                function=function,
                event_type=Identifier(datastore.schema, self.stored_event_type_name),
                lock_timeout=datastore.lock_timeout,
                table=table,
                channel=Identifier(self.channel_name),
            )
        )
        self._insert_statement = SQL(
            "SELECT notification_id FROM {function}(%s) AS notification_id"
        ).format(function=function)
        self._stored_among_statement = SQL(
            "SELECT DISTINCT originator_id FROM {table} WHERE originator_id = ANY(%s::uuid[])"
        ).format(table=table)

    def stored_among(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of ``originator_ids`` have events, in one query."""
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(self._stored_among_statement, (list(originator_ids),))
            return {row["originator_id"] for row in cursor.fetchall()}

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(self._insert_statement, (rows,), prepare=True)
            return [row["notification_id"] for row in cursor.fetchall()]


class LedgerPostgresFactory(PostgresFactory):
    """The library's factory, its connections also given the URL's other libpq parameters
    and a connect timeout.

    Over a host list each new connection asks for ``target_session_attrs=read-write``, so it
    goes to whichever node is primary now. The pool drops a connection that broke (the primary was
    killed or demoted) and makes new ones, so after a failover the ledger writes to the new
    primary with no restart. The timeout bounds each host's attempt: libpq's default would
    wait minutes on a host that drops packets.
    """

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        options = conninfo_to_dict(self.env.get(POSTGRES_OPTIONS) or "")
        timeout = self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or "5"
        kwargs = self.datastore.pool.kwargs
        if not isinstance(kwargs, dict):
            raise TypeError("the library's pool keeps its connection parameters in no dict")
        kwargs.update(
            {"connect_timeout": timeout, **options, **writable_session(str(kwargs.get("host", "")))}
        )

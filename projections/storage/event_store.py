"""The ledger's PostgreSQL event recorder: the library's, with each save in one round trip.

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

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        function = Identifier(datastore.schema, f"ledger_insert_{self.stored_event_type_name}")
        table = Identifier(datastore.schema, events_table_name)
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

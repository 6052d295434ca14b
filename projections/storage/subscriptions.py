"""Subscriptions to the change feed and how far each has been delivered: a cursor per
subscription over the feed, kept beside the views but not among them.

The feed is the outbox. Every event is stored before the views (and so the feed) can reach
it, and each subscription's cursor (``acknowledged``) moves past a position only after its
receiver acknowledged it, so no event is announced that was not stored, and none stored is
left unannounced. A decision writes nothing here: what announcing costs is paid by the
delivery worker, never by the one recording a decision. These tables are not views: they
live apart from them (their own PostgreSQL schema, ``ledger_delivery``, or their own SQLite
file) and are never dropped or replayed. Where the store is protected (``ledger protect``),
the schema and tables belong to the owner role and the service may only read them, add rows,
and move a subscription's cursor, state and lease: it may not delete or rewrite a delivery
attempt, a kept DCI answer, or where a subscription delivers to.

A subscription is worked on by one worker at a time, under a lease that expires (a killed
worker's subscriptions are taken up by the next), so its deliveries stay in order.

Each subscription's secret (what its deliveries are signed with) is shown once, when it is
created, and stored encrypted with the installation's personal-data key (the library's AES
cipher, as personal data in events): whoever reads the database, or a copy of it, cannot
forge deliveries without the key too.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from eventsourcing.persistence import Cipher

from projections.storage.database import Cursor, Row, ViewDatabase

ACTIVE, DEAD, CANCELLED = "active", "dead", "cancelled"
DELIVERY_SCHEMA = "ledger_delivery"
SUBSCRIPTIONS = "subscriptions"
DELIVERY_TABLES = (SUBSCRIPTIONS, "delivery_attempts", "dci_transactions")
# What delivering changes in a subscription; its target, secret and filters stay as made.
CURSOR_COLUMNS = (
    "acknowledged",
    "state",
    "attempts",
    "next_attempt_us",
    "lease_owner",
    "lease_until_us",
    "last_error",
    "dead_position",
)

CREATE = (
    "CREATE TABLE IF NOT EXISTS subscriptions ("
    " id TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL,"
    " sealed_secret TEXT NOT NULL,"
    " owner TEXT NOT NULL, role TEXT NOT NULL, served TEXT, filters TEXT NOT NULL,"
    " acknowledged BIGINT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " next_attempt_us BIGINT NOT NULL, lease_owner TEXT, lease_until_us BIGINT,"
    " last_error TEXT, dead_position BIGINT, created_us BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS delivery_attempts ("
    " subscription_id TEXT NOT NULL, position BIGINT NOT NULL, attempt INTEGER NOT NULL,"
    " at_us BIGINT NOT NULL, outcome TEXT NOT NULL, status INTEGER, error TEXT,"
    " latency_us BIGINT)",
    "CREATE INDEX IF NOT EXISTS delivery_attempts_by_subscription"
    " ON delivery_attempts (subscription_id, position)",
    # The DCI interface's asynchronous transactions and the answers each got (the latest
    # of an action is its status).
    "CREATE TABLE IF NOT EXISTS dci_transactions ("
    " owner TEXT NOT NULL, sender_id TEXT NOT NULL, transaction_id TEXT NOT NULL,"
    " action TEXT NOT NULL, status TEXT NOT NULL, response TEXT NOT NULL,"
    " at_us BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS dci_transactions_by_transaction"
    " ON dci_transactions (owner, sender_id, transaction_id)",
)

COLUMNS = (
    "id, kind, target, sealed_secret, owner, role, served, filters, acknowledged, state, attempts,"
    " next_attempt_us, last_error, dead_position, created_us"
)


def now_us() -> int:
    return int(time.time() * 1_000_000)


class CursorPastLedgerEndError(ValueError):
    """A subscription asked to deliver after a position the ledger has not reached: the
    events it records up to there would never be delivered."""

    def __init__(self, after: int, ledger_end: int) -> None:
        super().__init__(
            f"position {after} is past the ledger's end: the ledger is at position "
            f"{ledger_end}, and the events it records at positions up to {after} would never "
            f"be delivered. Give a position from 0 (all of its events) to {ledger_end} (only "
            "what it records from now on)"
        )
        self.after = after
        self.ledger_end = ledger_end


def refuse_past_ledger_end(after: int, ledger_end: int) -> None:
    """Refuse a cursor past the ledger's end (``ledger_end``, its latest position)."""
    if after > ledger_end:
        raise CursorPastLedgerEndError(after, ledger_end)


@dataclass(frozen=True)
class Subscription:
    id: str
    kind: str  # "webhook" or "nats"
    target: str  # the URL, or the broker subject
    secret: str  # in the clear, as it is read; stored sealed
    owner: str
    role: str
    served: frozenset[str] | None  # the regions its creator serves; None: the whole city
    filters: dict[str, list[str]]  # types, programmes, regions
    acknowledged: int
    state: str
    attempts: int
    next_attempt_us: int
    last_error: str | None
    dead_position: int | None
    created_us: int

    @classmethod
    def of(cls, row: Row, cipher: Cipher) -> Subscription:
        return cls(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            cipher.decrypt(base64.b64decode(row[3])).decode("utf-8"),
            str(row[4]),
            str(row[5]),
            None if row[6] is None else frozenset(json.loads(row[6])),
            json.loads(row[7]),
            int(row[8]),
            str(row[9]),
            int(row[10]),
            int(row[11]),
            row[12],
            None if row[13] is None else int(row[13]),
            int(row[14]),
        )


@dataclass(frozen=True)
class Attempt:
    position: int
    attempt: int
    at_us: int
    outcome: str  # "delivered", "failed", "dead"
    status: int | None
    error: str | None
    latency_us: int | None


class SubscriptionStore:
    """The subscriptions in ``views``: a database of their own (``open_views`` with
    ``DELIVERY_SCHEMA``), whose tables are made here unless they exist (a protected store's
    service role may not make them)."""

    def __init__(self, views: ViewDatabase, cipher: Cipher) -> None:
        self.views = views
        self.cipher = cipher
        if views.dialect != "postgres" or views.fetchall(
            "SELECT to_regclass(?) IS NULL", (SUBSCRIPTIONS,)
        ) == [(True,)]:
            with views.transaction() as cursor:
                for statement in CREATE:
                    cursor.execute(statement)

    def create(
        self,
        kind: str,
        target: str,
        secret: str,
        owner: str,
        role: str,
        served: frozenset[str] | None,
        filters: dict[str, list[str]],
        after: int,
        subscription_id: str | None = None,
    ) -> Subscription:
        new_id = subscription_id or uuid.uuid4().hex
        created = now_us()
        with self.views.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO subscriptions ({COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, NULL, ?)",
                (
                    new_id,
                    kind,
                    target,
                    base64.b64encode(self.cipher.encrypt(secret.encode("utf-8"))).decode("ascii"),
                    owner,
                    role,
                    None if served is None else json.dumps(sorted(served)),
                    json.dumps(filters, sort_keys=True),
                    after,
                    ACTIVE,
                    created,
                    created,
                ),
            )
        found = self.get(new_id)
        if found is None:
            raise RuntimeError("a subscription just created is missing")
        return found

    def ensure(
        self, subscription_id: str, kind: str, target: str, role: str, after: int = 0
    ) -> Subscription:
        """The subscription of this id, created the first time (the broker's own, for the
        whole city)."""
        found = self.get(subscription_id)
        if found is not None:
            return found
        return self.create(kind, target, "", "ledger", role, None, {}, after, subscription_id)

    def get(self, subscription_id: str) -> Subscription | None:
        rows = self.views.fetchall(
            f"SELECT {COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
        )
        return Subscription.of(rows[0], self.cipher) if rows else None

    def all(self, kinds: Sequence[str] = ("webhook",)) -> list[Subscription]:
        marks = ", ".join("?" for _ in kinds)
        rows = self.views.fetchall(
            f"SELECT {COLUMNS} FROM subscriptions WHERE kind IN ({marks}) ORDER BY created_us",
            tuple(kinds),
        )
        return [Subscription.of(row, self.cipher) for row in rows]

    def active(self, kinds: Sequence[str]) -> list[Subscription]:
        return [s for s in self.all(kinds) if s.state == ACTIVE]

    def cancel(self, subscription_id: str) -> bool:
        with self.views.transaction() as cursor:
            found = cursor.fetchall(
                "SELECT state FROM subscriptions WHERE id = ?", (subscription_id,)
            )
            if not found:
                return False
            cursor.execute(
                "UPDATE subscriptions SET state = ?, lease_owner = NULL WHERE id = ?",
                (CANCELLED, subscription_id),
            )
        return True

    def redeliver(
        self, subscription_id: str, after: int | None, ledger_end: int
    ) -> Subscription | None:
        """Deliver again from after ``after`` (default: from the dead-lettered event on), a
        position of the ledger, which ends at ``ledger_end``."""
        current = self.get(subscription_id)
        if current is None:
            return None
        if after is None:
            after = (
                current.dead_position - 1
                if current.dead_position is not None
                else current.acknowledged
            )
        refuse_past_ledger_end(after, ledger_end)
        with self.views.transaction() as cursor:
            cursor.execute(
                "UPDATE subscriptions SET acknowledged = ?, state = ?, attempts = 0,"
                " next_attempt_us = ?, dead_position = NULL, last_error = NULL WHERE id = ?",
                (after, ACTIVE, now_us(), subscription_id),
            )
        return self.get(subscription_id)

    # The worker's side.

    def lease(self, subscription_id: str, worker: str, seconds: float) -> bool:
        """Take or renew the subscription's lease; False while another worker holds it."""
        now = now_us()
        with self.views.transaction() as cursor:
            cursor.execute(
                "UPDATE subscriptions SET lease_owner = ?, lease_until_us = ? WHERE id = ?"
                " AND state = ? AND (lease_owner IS NULL OR lease_owner = ?"
                " OR lease_until_us < ?)",
                (worker, now + int(seconds * 1_000_000), subscription_id, ACTIVE, worker, now),
            )
            rows = cursor.fetchall(
                "SELECT lease_owner FROM subscriptions WHERE id = ?", (subscription_id,)
            )
        return bool(rows) and rows[0][0] == worker

    def release(self, subscription_id: str, worker: str) -> None:
        with self.views.transaction() as cursor:
            cursor.execute(
                "UPDATE subscriptions SET lease_owner = NULL WHERE id = ? AND lease_owner = ?",
                (subscription_id, worker),
            )

    def acknowledge(
        self,
        subscription_id: str,
        worker: str,
        position: int,
        delivered: Sequence[Attempt],
        lease_seconds: float,
    ) -> bool:
        """Move the cursor to ``position`` (past the events ``delivered``, and past events
        not for this subscription), logging the deliveries and renewing the lease, in one
        transaction; False if the lease was lost, and then nothing moved."""
        with self.views.transaction() as cursor:
            owner = cursor.fetchall(
                "SELECT lease_owner FROM subscriptions WHERE id = ?", (subscription_id,)
            )
            if not owner or owner[0][0] != worker:
                return False
            cursor.execute(
                "UPDATE subscriptions SET acknowledged = ?, attempts = 0, last_error = NULL,"
                " lease_until_us = ? WHERE id = ? AND acknowledged < ?",
                (position, now_us() + int(lease_seconds * 1_000_000), subscription_id, position),
            )
            self._log(cursor, subscription_id, *delivered)
        return True

    def failed(
        self,
        subscription_id: str,
        worker: str,
        attempt: Attempt,
        retry_at_us: int | None,
    ) -> None:
        """Record a failed attempt; ``retry_at_us`` None: the event is dead-lettered and the
        subscription waits for a redelivery (so that its deliveries stay in order)."""
        with self.views.transaction() as cursor:
            if retry_at_us is None:
                cursor.execute(
                    "UPDATE subscriptions SET state = ?, attempts = ?, last_error = ?,"
                    " dead_position = ?, lease_owner = NULL WHERE id = ? AND lease_owner = ?",
                    (
                        DEAD,
                        attempt.attempt,
                        attempt.error,
                        attempt.position,
                        subscription_id,
                        worker,
                    ),
                )
            else:
                cursor.execute(
                    "UPDATE subscriptions SET attempts = ?, last_error = ?, next_attempt_us = ?"
                    " WHERE id = ? AND lease_owner = ?",
                    (attempt.attempt, attempt.error, retry_at_us, subscription_id, worker),
                )
            self._log(cursor, subscription_id, attempt)

    def refuse(self, subscription_id: str, worker: str, reason: str) -> None:
        """Stop delivering the subscription (it waits for a redelivery), for ``reason``: its
        cursor is not this ledger's."""
        with self.views.transaction() as cursor:
            cursor.execute(
                "UPDATE subscriptions SET state = ?, last_error = ?, lease_owner = NULL"
                " WHERE id = ? AND lease_owner = ?",
                (DEAD, reason, subscription_id, worker),
            )

    def last_delivered(self, subscription: Subscription) -> Attempt | None:
        """The subscription's furthest delivery at or before its cursor made since it was
        last redelivered or retried (``next_attempt_us``): deliveries go in ledger order, so
        it is the latest, and older ones may be of where the cursor was before."""
        rows = self.views.fetchall(
            "SELECT position, attempt, at_us, outcome, status, error, latency_us"
            " FROM delivery_attempts WHERE subscription_id = ? AND position <= ?"
            " AND outcome = 'delivered' AND at_us >= ? ORDER BY position DESC LIMIT 1",
            (subscription.id, subscription.acknowledged, subscription.next_attempt_us),
        )
        return Attempt(*rows[0]) if rows else None

    @staticmethod
    def _log(cursor: Cursor, subscription_id: str, *attempts: Attempt) -> None:
        cursor.insert(
            "delivery_attempts",
            (
                "subscription_id",
                "position",
                "attempt",
                "at_us",
                "outcome",
                "status",
                "error",
                "latency_us",
            ),
            [
                (
                    subscription_id,
                    a.position,
                    a.attempt,
                    a.at_us,
                    a.outcome,
                    a.status,
                    a.error,
                    a.latency_us,
                )
                for a in attempts
            ],
        )

    def attempts(self, subscription_id: str, after: int = 0, limit: int = 100) -> list[Attempt]:
        rows = self.views.fetchall(
            "SELECT position, attempt, at_us, outcome, status, error, latency_us"
            " FROM delivery_attempts WHERE subscription_id = ? AND position > ?"
            " ORDER BY position, at_us LIMIT ?",
            (subscription_id, after, limit),
        )
        return [Attempt(*row) for row in rows]

    # The DCI transactions.

    def keep_transaction(
        self,
        owner: str,
        sender_id: str,
        transaction_id: str,
        action: str,
        status: str,
        response: str,
    ) -> None:
        """Keep the answer ``owner`` (the user who asked) was given, for its status."""
        with self.views.transaction() as cursor:
            cursor.execute(
                "INSERT INTO dci_transactions (owner, sender_id, transaction_id, action, status,"
                " response, at_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (owner, sender_id, transaction_id, action, status, response, now_us()),
            )

    def transaction(
        self, owner: str, sender_id: str, transaction_id: str
    ) -> list[tuple[str, str, str]]:
        """(action, status, response) of each request ``owner`` made in a transaction,
        oldest first; an action asked again is answered by its latest answer."""
        rows = self.views.fetchall(
            "SELECT action, status, response FROM dci_transactions"
            " WHERE owner = ? AND sender_id = ? AND transaction_id = ? ORDER BY at_us",
            (owner, sender_id, transaction_id),
        )
        latest = {str(r[0]): (str(r[0]), str(r[1]), str(r[2])) for r in rows}
        return list(latest.values())

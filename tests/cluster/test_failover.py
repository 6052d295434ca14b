"""The primary killed under a load of grants, twice: the service answers 503 with
Retry-After while no node is primary, writes to the new primary on its own, and every
grant it acknowledged before a kill is on the new primary; the old primary rejoins as a
standby.

A pg_auto_failover formation of the test's own (a monitor and two nodes, each commit waiting
for the standby to flush it) serves ``ledger serve`` through a URL listing both nodes with
``target_session_attrs=read-write``. A kill is a node's failure: its ``pg_autoctl`` keeper
and its postmaster get SIGKILL (the keeper alone would restart the postmaster in place).
Eight clients grant to new people, each retrying a 503 with the same Idempotency-Key
until the grant is acknowledged. The time to recover and the decisions per second before
and after each kill are printed, never asserted.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from eventsourcing.utils import get_topic

from domain.cases.case import Case
from projections.storage.opening import POSTGRES_EVENT_TABLE
from scripts.loadtest import Answer, Client, grant_body
from tests.clusters import AutoFailoverNode, Formation, cluster_folder
from tests.faults.burst import set_standard
from tests.processes import Server

pytestmark = pytest.mark.postgres

CLIENTS = 8
KILLS = 2
RATE_SECONDS = 10.0  # decisions per second are counted over this long before and after
GIVE_UP_SECONDS = 300.0


@dataclass(frozen=True)
class Acknowledged:
    case_id: uuid.UUID
    at: float  # time.monotonic() when the 201 came


@dataclass
class Writers:
    """Client threads granting to new people; each grant is sent with its key until it is
    acknowledged, a 503 (or no answer) retried after a short pause."""

    server: Server
    acknowledged: list[Acknowledged] = field(default_factory=list)
    refusals: list[tuple[float, Answer]] = field(default_factory=list)
    other: list[Answer] = field(default_factory=list)  # neither 201 nor a refusal: a fault
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _next: int = 0

    def start(self) -> None:
        for number in range(CLIENTS):
            thread = threading.Thread(target=self._grant, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(GIVE_UP_SECONDS)

    def _grant(self, number: int) -> None:
        user = f"caseworker-{number}"
        client = Client(self.server.url, self.server.token(user, "caseworker"), timeout=60)
        try:
            while not self.stopping.is_set():
                with self._lock:
                    self._next += 1
                    person = self._next
                key = f"failover-{number}-{person}"
                while True:  # the grant is acknowledged before the client stops
                    answer = client.request(
                        "POST", "/cases", grant_body(person), {"Idempotency-Key": key}
                    )
                    with self._lock:
                        if answer.status == 201:
                            case = uuid.UUID(answer.body["id"])
                            self.acknowledged.append(Acknowledged(case, time.monotonic()))
                            break
                        if answer.status in (0, 503):
                            self.refusals.append((time.monotonic(), answer))
                        else:
                            self.other.append(answer)
                            break
                    time.sleep(0.2)
        finally:
            client.close()

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def acknowledged_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(start <= a.at < end for a in self.acknowledged)

    def last_acknowledged_before(self, moment: float) -> float:
        with self._lock:
            return max(a.at for a in self.acknowledged if a.at < moment)

    def first_acknowledged_after_a_refusal(self, moment: float) -> float | None:
        """When the first grant was acknowledged after the first refusal since ``moment``."""
        with self._lock:
            refused = [at for at, _ in self.refusals if at > moment]
            if not refused:
                return None
            after = [a.at for a in self.acknowledged if a.at > refused[0]]
        return min(after) if after else None

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while not condition():
            if self.other:
                raise AssertionError(f"answers neither 201 nor 503: {self.other[:3]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            time.sleep(0.1)


@dataclass(frozen=True)
class Failover:
    killed: str
    promoted: str
    recovery_seconds: float  # last 201 before the kill to the first 201 after a refusal
    before_per_second: float
    after_per_second: float


@pytest.fixture
def formation() -> Iterator[Formation]:
    with cluster_folder("ledger-failover-") as root:
        formation = Formation.create(root)
        try:
            yield formation
        finally:
            formation.destroy()


def kill_primary(formation: Formation, writers: Writers) -> Failover:
    """Kill the primary under load, wait for the first grant acknowledged by the new one,
    measure, and bring the killed node back as a standby."""
    primary = formation.primary()
    assert primary is not None, formation.states()
    writers.wait_for(lambda: writers.count() > 0, "grants before the kill")
    started = time.monotonic()
    time.sleep(RATE_SECONDS)
    before = writers.acknowledged_between(started, time.monotonic()) / RATE_SECONDS

    primary.kill()
    killed = time.monotonic()
    last_before = writers.last_acknowledged_before(killed)
    writers.wait_for(
        lambda: writers.first_acknowledged_after_a_refusal(killed) is not None,
        "a grant acknowledged after the kill",
    )
    recovered = writers.first_acknowledged_after_a_refusal(killed)
    assert recovered is not None
    promoted = formation.primary()
    assert promoted is not None and promoted is not primary, formation.states()
    time.sleep(RATE_SECONDS)
    after = writers.acknowledged_between(recovered, recovered + RATE_SECONDS) / RATE_SECONDS

    primary.start(create=False)  # pg_autoctl rewinds it and follows the new primary
    formation.wait_until_healthy()
    assert formation.states()[primary.name] == ("secondary", "secondary")
    return Failover(primary.name, promoted.name, recovered - last_before, before, after)


def stored_cases(formation: Formation) -> list[uuid.UUID]:
    """The cases granted in the ledger, as the primary holds them now."""
    with psycopg.connect(formation.url(), connect_timeout=10) as connection:
        rows = connection.execute(
            f"SELECT originator_id FROM {POSTGRES_EVENT_TABLE} WHERE topic = %s",
            (get_topic(Case.Granted),),
        ).fetchall()
    return [row[0] for row in rows]


def rewound(node: AutoFailoverNode) -> bool:
    return "pg_rewind" in node.log.read_text(errors="replace")


def test_killing_the_primary_twice_loses_no_acknowledged_grant(
    formation: Formation, tmp_path: Path
) -> None:
    server = Server(formation.url(), tmp_path / "server.log")
    server.start()
    writers = Writers(server)
    try:
        set_standard(server)
        writers.start()
        failovers = [kill_primary(formation, writers) for _ in range(KILLS)]
    finally:
        writers.stop()
        server.stop()

    assert writers.other == []
    refusals = [answer for _, answer in writers.refusals]
    assert refusals, "no request was refused while there was no primary"
    for answer in refusals:
        assert answer.status == 503, answer
        assert answer.headers["retry-after"] == "5"
        assert answer.headers["content-type"] == "application/problem+json"
    assert [f.killed for f in failovers] == ["node1", "node2"]
    assert all(rewound(node) for node in formation.nodes)

    acknowledged = [a.case_id for a in writers.acknowledged]
    stored = stored_cases(formation)
    assert sorted(set(acknowledged) - set(stored)) == []  # nothing acknowledged was lost
    assert sorted(stored) == sorted(acknowledged)  # and nothing was recorded twice

    print(f"\n{len(acknowledged)} grants acknowledged by {CLIENTS} clients, all on the primary")
    for failover in failovers:
        print(
            f"{failover.killed} killed, {failover.promoted} promoted: first grant acknowledged "
            f"{failover.recovery_seconds:.1f} s after the last one before the kill; "
            f"{failover.before_per_second:.1f} decisions/s before, "
            f"{failover.after_per_second:.1f} after"
        )

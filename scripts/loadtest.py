"""A load of mixed decisions and queries from several clients against a running service.

Each client has its own keep-alive connection and sends, in a loop until the time is up,
grants of the disability living subsidy to new people (each with its own Idempotency-Key),
reassessments of its own cases, and queries: a case (as of its grant), a roll page, a
person's entitlements.
A decision that got no answer (a timeout, a broken connection, a 5xx) is retried with the
same key once the load is over, so every decision ends acknowledged or refused.

The summary counts the grants acknowledged and the cases the roll gained, which must be
equal, and gives the throughput and the latency percentiles of each kind of request.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from scripts.benchmarks.figures import percentile
from scripts.benchmarks.workload import person_number

REGION = "410611"
PROGRAMME = "disability-living"
EFFECTIVE = "2020-01"
FIRST_BIRTH = date(1925, 1, 1)
ROLL_PAGE = 1000


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (timeout, connection lost)
    body: Any
    headers: dict[str, str]
    seconds: float


class Client:
    """One keep-alive HTTP connection; reconnects after an error."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.token = token
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            self._connection.request(method, path, body=payload, headers=sent)
            response = self._connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return Answer(0, None, {}, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, parsed, headers, seconds)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def identity_number(index: int) -> str:
    """A valid identity number, distinct for every index."""
    return person_number(index, FIRST_BIRTH)


def grant_body(index: int) -> dict[str, Any]:
    return {
        "programme": PROGRAMME,
        "region": REGION,
        "effective": EFFECTIVE,
        "grade": 1 + index % 4,
        "persons": [{"identity_number": identity_number(index), "name": "负载测试"}],
        "reason": "load test",
    }


@dataclass
class Decision:
    """A decision sent with an Idempotency-Key, and what it was answered."""

    user: str
    key: str
    path: str
    body: dict[str, Any]
    first: Answer | None = None
    final: Answer | None = None

    @property
    def acknowledged(self) -> bool:
        return self.final is not None and 200 <= self.final.status < 300


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    read_from: dict[str, int] = field(default_factory=dict)  # queries by who answered them
    grants: list[Decision] = field(default_factory=list)
    reassessments: list[Decision] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, answer: Answer) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(answer.seconds)
            self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
            source = answer.headers.get("ledger-read-from")
            if source is not None:
                self.read_from[source] = self.read_from.get(source, 0) + 1

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass(frozen=True)
class Result:
    clients: int
    seconds: float
    tally: Tally
    roll_before: int
    roll_after: int

    @property
    def acknowledged_grants(self) -> int:
        return sum(d.acknowledged for d in self.tally.grants)

    @property
    def stored_grants(self) -> int:
        return self.roll_after - self.roll_before

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.tally.latencies.values())

    def markdown(self) -> str:
        tally = self.tally
        decisions = sum(d.acknowledged for d in tally.grants + tally.reassessments)
        lines = [
            f"{self.clients} clients for {self.seconds:.0f} s against the service:",
            "",
            f"- requests answered: {self.requests} ({self.requests / self.seconds:.1f}/s); "
            f"decisions acknowledged: {decisions} ({decisions / self.seconds:.1f}/s)",
            f"- grants acknowledged: {self.acknowledged_grants}; cases the roll gained: "
            f"{self.stored_grants}",
            "- answers by status: "
            + ", ".join(f"{s or 'none'}: {n}" for s, n in sorted(tally.statuses.items())),
            "- queries answered by: "
            + (", ".join(f"{s}: {n}" for s, n in sorted(tally.read_from.items())) or "none"),
            "",
            "| request | count | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, values in sorted(tally.latencies.items()):
            lines.append(
                f"| {kind} | {len(values)} | {percentile(values, 0.5) * 1000:.0f} | "
                f"{percentile(values, 0.99) * 1000:.0f} | {max(values) * 1000:.0f} |"
            )
        every = [v for values in tally.latencies.values() for v in values]
        lines.append(
            f"| all | {len(every)} | {percentile(every, 0.5) * 1000:.0f} | "
            f"{percentile(every, 0.99) * 1000:.0f} | {max(every) * 1000:.0f} |"
        )
        return "\n".join(lines)


Tokens = Callable[[str, str], str]  # (user, role) -> bearer token


def set_standard(url: str, tokens: Tokens) -> None:
    """The standard the grants are paid at; an existing one is left as it is."""
    client = Client(url, tokens("finance-load", "finance"))
    answer = client.request(
        "POST",
        f"/standards/{PROGRAMME}/{REGION}",
        {"effective": "2019-01", "parameters": {"standard": "500"}, "reason": "load test"},
        {"Idempotency-Key": "loadtest-standard"},
    )
    client.close()
    if answer.status not in (201, 409, 422):
        raise RuntimeError(f"setting the standard answered {answer.status}: {answer.body}")


def roll_size(url: str, tokens: Tokens, wait_for_position: int = 0) -> int:
    """How many cases the roll lists, read page by page."""
    client = Client(url, tokens("auditor-load", "auditor"), timeout=120)
    total = 0
    try:
        for offset in itertools.count(0, ROLL_PAGE):
            answer = client.request(
                "GET",
                f"/rolls/{PROGRAMME}/{REGION}?as_of={EFFECTIVE}&offset={offset}"
                f"&limit={ROLL_PAGE}&wait_for_position={wait_for_position}",
            )
            if answer.status != 200:
                raise RuntimeError(f"reading the roll answered {answer.status}: {answer.body}")
            entries = answer.body["entries"]
            total += len(entries)
            if len(entries) < ROLL_PAGE:
                return total
    finally:
        client.close()
    raise AssertionError("unreachable")


class Worker:
    def __init__(
        self,
        number: int,
        url: str,
        tokens: Tokens,
        tally: Tally,
        run: str,
        people: Iterator[int],
    ) -> None:
        self.number = number
        self.user = f"caseworker-load-{run}-{number}"
        self.client = Client(url, tokens(self.user, "caseworker"))
        self.tally = tally
        self.run = run
        self.people = people
        self.random = random.Random(number)
        self.cases: list[tuple[str, int]] = []  # a case and the position it was granted at
        self.persons: list[int] = []
        self.sent = 0

    def loop(self, deadline: float) -> None:
        try:
            while time.monotonic() < deadline:
                self.step()
        finally:
            self.client.close()

    def step(self) -> None:
        roll = self.random.random()
        if roll < 0.4 or not self.cases or not self.persons:
            self.grant()
        elif roll < 0.5:
            self.reassess()
        elif roll < 0.7:
            case, position = self.random.choice(self.cases)
            self.query("case", f"/cases/{case}?wait_for_position={position}")
        elif roll < 0.85:
            self.query("roll", f"/rolls/{PROGRAMME}/{REGION}?as_of={EFFECTIVE}&limit=50")
        else:
            index = self.random.choice(self.persons)
            answer = self.client.request(
                "POST", "/entitlements/search", {"identity_number": identity_number(index)}
            )
            self.tally.note("entitlements", answer)

    def decide(self, kind: str, path: str, body: dict[str, Any]) -> Decision:
        self.sent += 1
        decision = Decision(self.user, f"load-{self.run}-{self.number}-{self.sent}", path, body)
        answer = self.client.request("POST", path, body, {"Idempotency-Key": decision.key})
        self.tally.note(kind, answer)
        decision.first = decision.final = answer
        return decision

    def grant(self) -> None:
        index = next(self.people)
        decision = self.decide("grant", "/cases", grant_body(index))
        with self.tally.lock:
            self.tally.grants.append(decision)
        if decision.acknowledged and decision.final is not None:
            self.cases.append((decision.final.body["id"], decision.final.body["position"]))
            self.persons.append(index)

    def reassess(self) -> None:
        case, _ = self.random.choice(self.cases)
        body = {
            "effective": EFFECTIVE,
            "changes": {"grade": self.random.randint(1, 4)},
            "reason": "load test",
        }
        decision = self.decide("reassessment", f"/cases/{case}/reassessments", body)
        with self.tally.lock:
            self.tally.reassessments.append(decision)

    def query(self, kind: str, path: str) -> None:
        self.tally.note(kind, self.client.request("GET", path))


def settle(url: str, tokens: Tokens, tally: Tally, attempts: int = 20) -> None:
    """Retry, with the same key, every decision that got no answer or a 5xx."""
    clients: dict[str, Client] = {}
    for decision in tally.grants + tally.reassessments:
        for _ in range(attempts):
            answer = decision.final
            if answer is not None and 0 < answer.status < 500:
                break
            client = clients.get(decision.user)
            if client is None:
                client = clients[decision.user] = Client(url, tokens(decision.user, "caseworker"))
            decision.final = client.request(
                "POST", decision.path, decision.body, {"Idempotency-Key": decision.key}
            )
            if decision.final.status in (0, 503):
                time.sleep(1)
    for client in clients.values():
        client.close()


def run(url: str, tokens: Tokens, clients: int = 8, seconds: float = 60.0) -> Result:
    """Load the service at ``url`` with ``clients`` concurrent clients for ``seconds``."""
    set_standard(url, tokens)
    tally = Tally()
    before = roll_size(url, tokens)
    run_id = f"{random.randrange(16**6):06x}"
    people = itertools.count(random.randrange(20_000) * 1000)
    workers = [Worker(n, url, tokens, tally, run_id, people) for n in range(clients)]
    started = time.monotonic()
    deadline = started + seconds
    threads = [threading.Thread(target=w.loop, args=(deadline,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    settle(url, tokens, tally)
    positions = [
        d.final.body["position"]
        for d in tally.grants + tally.reassessments
        if d.final is not None and d.acknowledged
    ]
    after = roll_size(url, tokens, wait_for_position=max(positions, default=0))
    return Result(clients, elapsed, tally, before, after)

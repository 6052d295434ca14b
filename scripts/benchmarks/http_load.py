"""An HTTP server in its own process, and a load generator of client threads with
keep-alive connections, used alike for the ledger's service and the trivial baseline."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from scripts.benchmarks.figures import percentile
from scripts.loadtest import Client

START_TIMEOUT = 60.0
ROUNDS = 4
WARM_UP_SECONDS = 0.5

# One request to make: method, path and JSON body (None for none).
Request = tuple[str, str, Any]


@dataclass
class LoadResult:
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def latency_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    @classmethod
    def of_rounds(cls, rounds: Sequence[LoadResult]) -> LoadResult:
        """One load made of rounds run one after another."""
        total = cls(sum(r.seconds for r in rounds))
        for result in rounds:
            total.statuses.update(result.statuses)
            total.latencies.extend(result.latencies)
        return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(app: str, env: Mapping[str, str], *, factory: bool, ready_path: str) -> Iterator[int]:
    """Run ``uvicorn app`` on a free loopback port until the block ends; its port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"] + (["--factory"] if factory else [])
    server = subprocess.Popen(command, env={**os.environ, **env})
    try:
        _wait_until_ready(server, port, ready_path)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_ready(server: subprocess.Popen[bytes], port: int, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {server.returncode}")
        probe = Client(f"http://127.0.0.1:{port}", "", timeout=2)
        answered = probe.request("GET", path).status
        probe.close()
        if answered == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server on port {port} was not ready within {START_TIMEOUT:.0f} s")


def load(
    port: int,
    next_request: Callable[[int], Request],
    *,
    clients: int,
    seconds: float,
    token: str = "",
) -> LoadResult:
    """``clients`` threads send requests back to back for ``seconds``, each on its own
    keep-alive connection."""
    numbers = itertools.count()
    deadline = time.monotonic() + seconds
    results = [LoadResult(seconds) for _ in range(clients)]

    def client(result: LoadResult) -> None:
        connection = Client(f"http://127.0.0.1:{port}", token)
        while time.monotonic() < deadline:
            method, path, body = next_request(next(numbers))
            answer = connection.request(method, path, body)
            result.latencies.append(answer.seconds)
            result.statuses[answer.status] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(result,)) for result in results]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = LoadResult(time.monotonic() - started)
    for result in results:
        total.statuses.update(result.statuses)
        total.latencies.extend(result.latencies)
    return total


def in_turns(loads: Sequence[Callable[[float], LoadResult]], seconds: float) -> list[LoadResult]:
    """Each of ``loads`` (given how long to run) for ``seconds`` in all, in ``ROUNDS`` turns,
    after a warm-up of each that is not counted: the machine's load shifts meanwhile, and a
    server's first requests open its connections."""
    for run in loads:
        run(WARM_UP_SECONDS)
    rounds: list[list[LoadResult]] = [[] for _ in loads]
    for _ in range(ROUNDS):
        for run, results in zip(loads, rounds, strict=True):
            results.append(run(seconds / ROUNDS))
    return [LoadResult.of_rounds(results) for results in rounds]

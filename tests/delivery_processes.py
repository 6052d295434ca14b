"""Real processes for the delivery tests, on loopback: webhook receivers of the tests' own
(``tests/subscriber.py``), the delivery worker (``ledger deliver``), and a JetStream server
when none runs on 127.0.0.1:4222."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from scripts.loadtest import Answer, Client
from tests.processes import STOP_SECONDS, Server, free_port
from tests.support import QIBIN, identity_number

ROOT = Path(__file__).resolve().parent.parent
NATS_URL = "nats://127.0.0.1:4222"


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        process.wait(STOP_SECONDS)


class Subscriber:
    """A webhook receiver process; ``mode`` changes how it answers from the next request."""

    def __init__(self, folder: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.log_path = folder / f"{name}.received"
        self.mode_path = folder / f"{name}.mode"
        self.secret = ""
        self.process: subprocess.Popen[bytes] | None = None

    def mode(self, mode: str) -> None:
        self.mode_path.write_text(mode)

    def start(self, secret: str) -> None:
        self.secret = secret
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.subscriber",
                str(self.port),
                secret,
                str(self.log_path),
                str(self.mode_path),
            ],
            cwd=ROOT,
        )
        wait_until(lambda: accepts(self.port), 30, f"the subscriber on {self.port} listens")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        _stop(self.process)

    def arrivals(self) -> list[tuple[int, float, str]]:
        """Every verified delivery received: (webhook-id, when, how it was answered)."""
        if not self.log_path.exists():
            return []
        rows = [line.split() for line in self.log_path.read_text().splitlines()]
        return [(int(r[0]), float(r[1]), r[2]) for r in rows if len(r) == 3]

    def received(self) -> list[int]:
        return [position for position, _, _ in self.arrivals()]

    def distinct(self) -> list[int]:
        """What a consumer deduplicating by webhook-id keeps, in arrival order."""
        seen: dict[int, None] = {}
        for position in self.received():
            seen.setdefault(position)
        return list(seen)


class Deliverer:
    """``ledger deliver`` with the server's settings."""

    def __init__(self, server: Server, log_path: Path, **settings: str) -> None:
        self.env = {
            **server.env,
            "LEDGER_DELIVERY_RETRY_BASE_SECONDS": "0.2",
            "LEDGER_DELIVERY_RETRY_MAX_SECONDS": "2",
            "LEDGER_DELIVERY_MAX_ATTEMPTS": "1000",
            "LEDGER_DELIVERY_TIMEOUT_SECONDS": "2",
            **{f"LEDGER_{k.upper()}": v for k, v in settings.items()},
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ledger = Path(sys.executable).with_name("ledger")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(ledger), "deliver", "--batch", "10"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        _stop(self.process)

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def delivering(server: Server, log_path: Path, **settings: str) -> Iterator[Deliverer]:
    deliverer = Deliverer(server, log_path, **settings)
    deliverer.start()
    try:
        yield deliverer
    finally:
        deliverer.stop()
        deliverer.kill()


@contextlib.contextmanager
def jetstream(folder: Path) -> Iterator[str]:
    """The JetStream server on 127.0.0.1:4222 when one runs; else one of the test's own on a
    free port (``nats-server -js -sd FOLDER``), stopped afterwards."""
    if accepts(4222):
        yield NATS_URL
        return
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = free_port()
    process = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: accepts(port), 30, "nats-server listens")
        yield f"nats://127.0.0.1:{port}"
    finally:
        _stop(process, signal.SIGTERM)


class Writer:
    """Records grants over HTTP as a caseworker; each person new."""

    def __init__(self, server: Server, serial_base: int) -> None:
        self.client = Client(server.url, server.token("cw", "caseworker"))
        self.serial = serial_base
        self.last_position = 0  # of the last grant recorded

    def grant(self) -> Answer:
        self.serial += 1
        born = date.fromordinal(date(1950, 1, 1).toordinal() + self.serial // 900)
        body: dict[str, Any] = {
            "programme": "disability-living",
            "region": QIBIN,
            "effective": "2020-01",
            "grade": 1,
            "persons": [
                {"identity_number": identity_number(born, self.serial % 900 + 1), "name": "某"}
            ],
            "reason": "application",
        }
        answer = self.client.request("POST", "/cases", body)
        if answer.status == 201:
            self.last_position = max(self.last_position, int(answer.body["position"]))
        return answer

    def close(self) -> None:
        self.client.close()


def set_standard(server: Server) -> int:
    """The disability living subsidy's standard in Qibin; the position it was recorded at."""
    client = Client(server.url, server.token("fi", "finance"))
    answer = client.request(
        "POST",
        f"/standards/disability-living/{QIBIN}",
        {"effective": "2019-01", "parameters": {"standard": "500"}, "reason": "notice"},
    )
    client.close()
    assert answer.status == 201, answer
    return int(answer.body["position"])


def feed_positions(
    server: Server, role: str = "caseworker", *, through: int, seconds: float = 60
) -> list[int]:
    """Every position the feed announces to the role, read page by page until the feed has
    read past ``through`` (the last position the test wrote). The feed never reads past the
    views, which reach a decision moments after it is recorded: read sooner, it would stop
    short of the last decisions, and a subscriber that already has them would look wrong."""
    client = Client(server.url, server.token("reader", role))
    positions: list[int] = []
    after = 0
    deadline = time.monotonic() + seconds
    while True:
        answer = client.request("GET", f"/events?after={after}&limit=1000")
        assert answer.status == 200, answer
        positions.extend(int(event["id"]) for event in answer.body)
        following = int(answer.headers["feed-next-after"])
        if following >= through:
            break
        if following == after:
            if time.monotonic() > deadline:
                raise AssertionError(f"the feed did not reach position {through} in {seconds} s")
            time.sleep(0.1)
        after = following
    client.close()
    return positions

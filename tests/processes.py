"""Real processes for the fault tests, on loopback only, each started and stopped within a
bounded time: the ledger's HTTP server (``ledger serve``) and a PostgreSQL cluster of the
test's own, so that stopping a database never stops the server the other tests use."""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from api.core.identities import CITY_WIDE_ROLES, Role, mint_token
from domain.regions import RegionCatalogue

START_SECONDS = 60
STOP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


class Server:
    """``ledger serve`` in production mode with its own keys, as a child process."""

    def __init__(self, database_url: str, log_path: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.jwt_secret = new_key()
        self.log_path = log_path
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
            "LEDGER_ENVIRONMENT": "production",
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_PERSONAL_DATA_KEY": new_key(),
            "LEDGER_PERSON_REF_KEY": new_key(),
            "LEDGER_JWT_SECRET": self.jwt_secret,
            "LEDGER_SIGNING_KEY": new_key(),
            **{f"LEDGER_{k.upper()}": v for k, v in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def token(self, user: str, role: str | Role) -> str:
        """A token for ``user``; caseworkers, approvers and viewers serve every region of
        the shipped catalogue."""
        acting = Role(role)
        regions = None if acting in CITY_WIDE_ROLES else RegionCatalogue.load().names
        return mint_token(self.jwt_secret, user, acting, 24 * 60, regions=regions)

    def start(self) -> None:
        """Start the server and wait until it answers /health."""
        ledger = Path(sys.executable).with_name("ledger")
        command = [str(ledger), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log()}")
            if self.answers("/health") == 200:
                return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not start within {START_SECONDS} s:\n{self.log()}")

    def answers(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while self.answers("/ready") != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready within {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_SECONDS)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def serving(database_url: str, log_path: Path, **settings: str) -> Iterator[Server]:
    server = Server(database_url, log_path, **settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def ledger_command(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``ledger ARGS...`` with the server's settings."""
    ledger = Path(sys.executable).with_name("ledger")
    return subprocess.run(
        [str(ledger), *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian keeps them off the PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb) are installed")
    return Path(initdb).parent


class PostgresCluster:
    """A PostgreSQL cluster in a temporary folder, on its own port on 127.0.0.1, with its
    Unix socket inside the folder. As root it runs as the ``postgres`` user, which
    PostgreSQL requires; otherwise as the current user. ``close()`` always removes it."""

    SUPERUSER = "ledger_admin"

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://{self.SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if not self.data.exists():
            self._initdb()
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            str(START_SECONDS),
            "-o",
            options,
        )

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.SUPERUSER,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(STOP_SECONDS))

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command: Sequence[str] = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]
        subprocess.run(
            command,
            check=True,
            cwd=self.folder,
            timeout=START_SECONDS + 30,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


@contextlib.contextmanager
def private_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()

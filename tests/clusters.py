"""PostgreSQL clusters of the tests' own, on loopback ports under a temporary folder.

The machine's shared server is never touched: each cluster is made by ``initdb`` run as
the ``postgres`` user (the server refuses to run as root), listens on 127.0.0.1 on a free
port, trusts local connections, and is stopped and removed by ``destroy``. A standby is
cloned from its primary with ``pg_basebackup``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("LEDGER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60

BASE_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "fsync": "on",
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "hot_standby": "on",
    "wal_log_hints": "on",
    "logging_collector": "off",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> tuple[int, int]:
    entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def run_as_server_user(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as the server's user (the tests run as root)."""
    uid, gid = _as_server_user()
    return subprocess.run(
        [str(a) for a in args],
        check=check,
        capture_output=True,
        text=True,
        user=uid if os.geteuid() == 0 else None,
        group=gid if os.geteuid() == 0 else None,
        cwd="/",
    )


def temporary_folder(prefix: str) -> Path:
    """A folder the server's user owns, under the system's temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        uid, gid = _as_server_user()
        os.chown(folder, uid, gid)
    return folder


class Cluster:
    """One PostgreSQL server of the tests' own."""

    def __init__(self, data: Path, port: int, name: str) -> None:
        self.data = data
        self.port = port
        self.name = name

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def url(self, dbname: str = "postgres", **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{dbname}" + (
            f"?{query}" if query else ""
        )

    @classmethod
    def create(cls, root: Path, name: str, settings: Mapping[str, str] | None = None) -> Cluster:
        """A new cluster in ``root/name``, configured but not started."""
        cluster = cls(root / name, free_port(), name)
        run_as_server_user(
            PG_BIN / "initdb",
            "-D",
            cluster.data,
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        cluster.configure({**BASE_SETTINGS, **(settings or {})})
        with (cluster.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
            hba.write("host all all 127.0.0.1/32 trust\n")
        return cluster

    def configure(self, settings: Mapping[str, str]) -> None:
        """Append ``settings`` to postgresql.auto.conf (later lines win); also ``port``."""
        lines = [f"{key} = {value}" for key, value in {"port": str(self.port), **settings}.items()]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> None:
        run_as_server_user(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t",
            str(START_TIMEOUT_SECONDS), "start",
        )  # fmt: skip
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        run_as_server_user(
            PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False
        )

    def postmaster_pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (its backends exit on their own)."""
        pid = self.postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def execute(self, statement: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cursor = conn.execute(statement)
            return list(cursor.fetchall()) if cursor.description else []

    def standby(self, root: Path, name: str, synchronous: bool = False) -> Cluster:
        """A hot standby streaming from this cluster, started; with ``synchronous`` this
        cluster waits for it to flush each commit."""
        standby = Cluster(root / name, free_port(), name)
        run_as_server_user(
            PG_BIN / "pg_basebackup",
            "-D",
            standby.data,
            "-d",
            self.url(),
            "-R",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",
        )
        standby.configure(
            {
                "primary_conninfo": (
                    f"'host=127.0.0.1 port={self.port} user={SERVER_USER} application_name={name}'"
                ),
            }
        )
        standby.start()
        if synchronous:
            self.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
            self.execute("SELECT pg_reload_conf()")
        return standby

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data, ignore_errors=True)
        self.log.unlink(missing_ok=True)


@contextmanager
def cluster_folder(prefix: str = "ledger-clusters-") -> Iterator[Path]:
    """A temporary folder for clusters, removed afterwards."""
    root = temporary_folder(prefix)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)

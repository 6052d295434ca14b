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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
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


def run_as_server_user(
    *args: str | Path, check: bool = True, namespace: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as the server's user (the tests run as root); with
    ``namespace``, inside that network namespace (``ip netns exec`` needs root, so the
    user is changed inside it)."""
    uid, gid = _as_server_user()
    command = [str(a) for a in args]
    if namespace is not None:
        return subprocess.run(
            ["ip", "netns", "exec", namespace, "setpriv", f"--reuid={uid}", f"--regid={gid}",
             "--init-groups", *command],
            check=check, capture_output=True, text=True, cwd="/",
        )  # fmt: skip
    return subprocess.run(
        command,
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

    def __init__(
        self,
        data: Path,
        port: int,
        name: str,
        host: str = "127.0.0.1",
        namespace: str | None = None,
    ) -> None:
        self.data = data
        self.port = port
        self.name = name
        self.host = host  # where the tests reach it
        self.namespace = namespace  # the network namespace it runs in, if not the tests'

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def url(self, dbname: str = "postgres", **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://{SERVER_USER}@{self.host}:{self.port}/{dbname}" + (
            f"?{query}" if query else ""
        )

    @classmethod
    def create(
        cls,
        root: Path,
        name: str,
        settings: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        namespace: str | None = None,
    ) -> Cluster:
        """A new cluster in ``root/name``, configured but not started; in a network
        namespace it trusts the subnets it is on (``listen_addresses`` in ``settings``)."""
        cluster = cls(root / name, free_port(), name, host, namespace)
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
            if namespace is not None:
                hba.write("host replication all samenet trust\n")
                hba.write("host all all samenet trust\n")
        return cluster

    def configure(self, settings: Mapping[str, str]) -> None:
        """Append ``settings`` to postgresql.auto.conf (later lines win); also ``port``."""
        lines = [f"{key} = {value}" for key, value in {"port": str(self.port), **settings}.items()]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> None:
        run_as_server_user(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t",
            str(START_TIMEOUT_SECONDS), "start", namespace=self.namespace,
        )  # fmt: skip
        if self.namespace is None:  # pg_ctl -w has waited; the tests may not reach it
            self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        run_as_server_user(
            PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False,
            namespace=self.namespace,
        )  # fmt: skip

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

    def standby(
        self,
        root: Path,
        name: str,
        synchronous: bool = False,
        *,
        host: str = "127.0.0.1",
        namespace: str | None = None,
        primary_host: str | None = None,
    ) -> Cluster:
        """A hot standby streaming from this cluster, started; with ``synchronous`` this
        cluster waits for it to flush each commit. In another network namespace it listens
        on ``host`` and reaches this cluster at ``primary_host``."""
        standby = Cluster(root / name, free_port(), name, host, namespace)
        upstream = primary_host or self.host
        run_as_server_user(
            PG_BIN / "pg_basebackup",
            "-D",
            standby.data,
            "-d",
            self.url().replace(f"@{self.host}:", f"@{upstream}:"),
            "-R",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",
            namespace=namespace,
        )
        standby.configure(
            {
                "listen_addresses": f"'{host}'",
                "primary_conninfo": (
                    f"'host={upstream} port={self.port} user={SERVER_USER} application_name={name}'"
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


MONITOR_DBNAME = "pg_auto_failover"
# How soon the monitor of a formation calls a node that does not answer unhealthy (about
# 20 s by default; on loopback a few seconds suffice). The promotion still waits the
# default primary_demote_timeout (30 s), the time a primary cut off from the monitor has to
# stop itself before its standby takes over.
FAST_HEALTH_CHECKS: Mapping[str, str] = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "3000",
}


class AutoFailoverNode:
    """One ``pg_autoctl`` service (a monitor or a Postgres node) and the server it keeps."""

    def __init__(self, root: Path, name: str, arguments: list[str]) -> None:
        self.root = root
        self.name = name
        self.cluster = Cluster(root / name, free_port(), name)
        self.arguments = arguments
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.autoctl.log"

    def _environment(self) -> dict[str, str]:
        # pg_autoctl keeps its state under XDG folders: the formation's own, not $HOME's.
        return {
            "HOME": str(self.root),
            "LC_ALL": "C.UTF-8",  # initdb takes the encoding from it: UTF8, not SQL_ASCII
            "PATH": f"{PG_BIN}:/usr/bin:/bin",
            "XDG_CONFIG_HOME": str(self.root / "xdg-config"),
            "XDG_DATA_HOME": str(self.root / "xdg-data"),
            "XDG_RUNTIME_DIR": str(self.root / "xdg-runtime"),
            "PG_REGRESS_SOCK_DIR": str(self.root),  # its sockets: not in a shared folder
        }

    def start(self, *, create: bool) -> None:
        """Run ``pg_autoctl`` in the background: ``create ... --run`` the first time, then
        ``run`` (a node that comes back rejoins the formation as its monitor says)."""
        command = (
            ["pg_autoctl", "create", *self.arguments, "--pgdata", str(self.cluster.data),
             "--pgport", str(self.cluster.port), "--run"]
            if create
            else ["pg_autoctl", "run", "--pgdata", str(self.cluster.data)]
        )  # fmt: skip
        uid, gid = _as_server_user()
        as_server = os.geteuid() == 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd="/",
                user=uid if as_server else None,
                group=gid if as_server else None,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the node as a machine failure would: ``pg_autoctl`` with every process it
        runs, and the postmaster (which would otherwise be restarted by it in place)."""
        postmaster = self.cluster.postmaster_pid()
        if self.process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
        if postmaster is not None:
            with suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None
        self.cluster.stop("immediate")


class Formation:
    """A pg_auto_failover formation of the tests' own on loopback: a monitor and Postgres
    nodes, the first of them primary, every commit waiting for a standby to flush it."""

    def __init__(self, root: Path, dbname: str) -> None:
        self.root = root
        self.dbname = dbname
        self.monitor = AutoFailoverNode(
            root, "monitor", ["monitor", "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl"]
        )
        self.nodes: list[AutoFailoverNode] = []

    @classmethod
    def create(cls, root: Path, nodes: int = 2, dbname: str = "ledger") -> Formation:
        formation = cls(root, dbname)
        formation.monitor.start(create=True)
        formation.monitor.cluster.wait_ready()
        formation._wait(
            lambda: bool(formation._monitor_rows("SELECT 1 FROM pgautofailover.formation"))
        )
        for key, value in FAST_HEALTH_CHECKS.items():
            formation.monitor.cluster.execute(f"ALTER SYSTEM SET {key} = '{value}'")
        formation.monitor.cluster.execute("SELECT pg_reload_conf()")
        for number in range(1, nodes + 1):
            formation.add_node(f"node{number}")
            formation.wait_until_healthy(number)
        return formation

    def add_node(self, name: str) -> AutoFailoverNode:
        monitor = self.monitor.cluster.url(MONITOR_DBNAME, sslmode="disable").replace(
            f"{SERVER_USER}@", "autoctl_node@"
        )
        node = AutoFailoverNode(
            self.root,
            name,
            ["postgres", "--hostname", "127.0.0.1", "--pghost", "127.0.0.1",
             "--listen", "127.0.0.1", "--name", name, "--dbname", self.dbname,
             "--auth", "trust", "--no-ssl", "--monitor", monitor,
             "--pgctl", str(PG_BIN / "pg_ctl"), "--replication-quorum", "true"],
        )  # fmt: skip
        self.nodes.append(node)
        node.start(create=True)
        return node

    def url(self, **options: str) -> str:
        """The URL listing every node, writes going to whichever is primary."""
        hosts = ",".join(f"127.0.0.1:{node.cluster.port}" for node in self.nodes)
        query = "&".join(
            f"{k}={v}" for k, v in {"target_session_attrs": "read-write", **options}.items()
        )
        return f"postgresql://{SERVER_USER}@{hosts}/{self.dbname}?{query}"

    def _monitor_rows(self, statement: str) -> list[tuple[object, ...]]:
        try:
            return self.monitor.cluster.execute(statement, dbname=MONITOR_DBNAME)
        except psycopg.Error:
            return []

    def states(self) -> dict[str, tuple[str, str]]:
        """Each node's reported and assigned state, as the monitor knows them."""
        rows = self._monitor_rows(
            "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node"
        )
        return {str(name): (str(reported), str(goal)) for name, reported, goal in rows}

    def primary(self) -> AutoFailoverNode | None:
        """The node that takes writes: ``primary``, or ``wait_primary`` while no standby
        follows it (pg_auto_failover then commits without waiting for one)."""
        states = self.states()
        for node in self.nodes:
            if states.get(node.name) in (("primary", "primary"), ("wait_primary", "wait_primary")):
                return node
        return None

    def wait_until_healthy(
        self, nodes: int | None = None, timeout: float = 180
    ) -> AutoFailoverNode:
        """Wait until one node is primary and every other one a secondary streaming from it."""
        count = len(self.nodes) if nodes is None else nodes

        def settled() -> bool:
            states = self.states()
            settled_states = [s for s in states.values() if s[0] == s[1]]
            wanted = {("primary", "primary")} | {("secondary", "secondary")}
            roles = [s for s in settled_states if s in wanted]
            primaries = [s for s in roles if s[0] == "primary"]
            single = count == 1 and [s for s in settled_states if s[0] == "single"]
            return bool(single) or (len(roles) == count == len(states) and len(primaries) == 1)

        self._wait(settled, timeout)
        primary = self.primary()
        return primary if primary is not None else self.nodes[0]

    def _wait(self, condition: Callable[[], bool], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the formation did not settle: {self.states()}")
            time.sleep(0.5)

    def destroy(self) -> None:
        for node in [*self.nodes, self.monitor]:
            node.stop()

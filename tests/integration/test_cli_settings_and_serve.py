"""``ledger settings`` shows what is in effect and never a secret; ``ledger serve`` logs the
service's own access lines on stderr instead of uvicorn's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.settings import Settings
from tests.processes import START_SECONDS, STOP_SECONDS, free_port, new_key


def test_settings_show_what_is_in_effect_with_every_secret_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = {name: new_key() for name in ("PERSONAL_DATA_KEY", "PERSON_REF_KEY")}
    for name, key in keys.items():
        monkeypatch.setenv(f"LEDGER_{name}", key)
    monkeypatch.delenv("LEDGER_JWT_SECRET", raising=False)
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://ledger:s3cret@db.example:5433/ledger")
    monkeypatch.setenv("LEDGER_TOKEN_MINUTES", "60")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    shown = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:]}
    assert shown["LEDGER_DATABASE_URL"] == [
        "postgresql://ledger:***@db.example:5433/ledger",
        "environment",
    ]
    assert shown["LEDGER_PERSONAL_DATA_KEY"] == ["set", "(hidden)", "environment"]
    assert shown["LEDGER_JWT_SECRET"] == ["generated", "(var/ledger.keys)", "default"]
    assert shown["LEDGER_TOKEN_MINUTES"] == ["60", "environment"]
    assert shown["LEDGER_RELIEF_CAP_MULTIPLE"] == ["6", "default"]
    assert "s3cret" not in result.output
    assert not any(key in result.output for key in keys.values())


def test_serve_logs_the_services_access_lines_on_stderr_and_not_uvicorns(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_DATABASE_URL"] = f"sqlite:///{tmp_path}/ledger.db"
    ledger = Path(sys.executable).with_name("ledger")
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        server = subprocess.Popen(
            [str(ledger), "serve", "--port", str(port)], env=env, stdout=out, stderr=err
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert server.poll() is None, stderr.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(STOP_SECONDS)
    logged = stderr.read_text()
    assert logged.splitlines()[0] == f"ledger: sqlite {tmp_path}/ledger.db"
    access = [line for line in logged.splitlines() if " ledger.access " in line]
    assert any("route=/health status=200" in line for line in access), logged
    assert " INFO " in access[0]
    assert "GET /health HTTP/1.1" not in logged + stdout.read_text()


def test_settings_show_each_replica_url_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://ledger@db1:5432/ledger")
    monkeypatch.setenv(
        "LEDGER_REPLICA_URLS",
        "postgresql://reader:s3cret@db2:5432,db3:5432/ledger?target_session_attrs=standby,"
        "postgresql://reader@db4/ledger",
    )
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    shown = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:]}
    assert shown["LEDGER_REPLICA_URLS"] == [
        "postgresql://reader:***@db2:5432,db3:5432/ledger?target_session_attrs=standby,",
        "postgresql://reader@db4/ledger",
        "environment",
    ]
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    ("database_url", "replica_urls", "refusal"),
    [
        ("sqlite:///var/ledger.db", "postgresql://db2/ledger", "standbys of a PostgreSQL ledger"),
        ("postgresql://db1/ledger", "postgresql://db2/ledger?colour=blue", "replica URL 1"),
    ],
)
def test_replica_urls_that_cannot_be_read_from_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, database_url: str, replica_urls: str, refusal: str
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("LEDGER_REPLICA_URLS", replica_urls)
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code != 0
    assert refusal in result.output


def test_a_database_url_may_list_several_hosts_and_a_port_is_a_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    several = Settings(database_url="postgresql://ledger@db1:5432,db2:5433/ledger")
    assert several.database_label == "postgresql db1:5432,db2:5433/ledger"
    assert several.ledger_env()["POSTGRES_HOST"] == "db1,db2"
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://ledger@db1:54x2/ledger")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code != 0
    assert "port '54x2' is not a port number" in result.output

"""Names and identity numbers never reach the database files in the clear, nor the logs,
and the service does not start in production without its keys."""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.core.identities import Role
from api.core.settings import Settings
from tests.e2e.service import running
from tests.support import QIBIN, identity_number

NAME = "欧阳娜娜"
NUMBER = identity_number(date(1955, 5, 5), 777)


def record_a_person(database_url: str) -> None:
    with running(database_url) as service:
        service.runtime.ledger.set_standard(
            "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
        )
        answer = service.post(
            "/cases",
            {
                "programme": "disability-living",
                "region": QIBIN,
                "effective": "2020-01",
                "grade": 1,
                "persons": [{"identity_number": NUMBER, "name": NAME}],
                "reason": "certificate",
            },
            Role.CASEWORKER,
        )
        assert answer.status_code == 201, answer.text
        duplicate = service.post(
            "/cases",
            {
                "programme": "disability-living",
                "region": QIBIN,
                "effective": "2020-01",
                "grade": 1,
                "persons": [{"identity_number": NUMBER, "name": NAME}],
                "reason": "certificate",
            },
            Role.CASEWORKER,
        )
        assert duplicate.status_code == 409
        assert NUMBER not in duplicate.text and NAME not in duplicate.text
        service.runtime.read_side.wait_for(service.runtime.ledger.position)


def test_the_sqlite_files_and_the_logs_never_hold_a_name_or_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record_a_person(f"sqlite:///{tmp_path}/ledger.db")
    files = list(tmp_path.glob("ledger*"))
    assert len(files) >= 2  # the ledger and its views, with their write-ahead logs
    for path in files:
        content = path.read_bytes()
        assert NUMBER.encode() not in content, path
        assert NAME.encode() not in content, path
    assert NUMBER not in caplog.text
    assert NAME not in caplog.text


@pytest.mark.postgres
def test_a_postgresql_dump_never_holds_a_name_or_number(postgres_url: str) -> None:
    record_a_person(postgres_url)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to check the dump; install the PostgreSQL client")
    dump = subprocess.run(
        [pg_dump, "--data-only", postgres_url], capture_output=True, check=True, timeout=60
    ).stdout
    assert b"ledger_events" in dump
    for needle in (NUMBER.encode(), NAME.encode()):
        assert needle not in dump
        assert needle.hex().encode() not in dump  # event states are dumped as bytea hex


def test_production_refuses_to_start_without_its_keys() -> None:
    with pytest.raises(ValidationError, match="LEDGER_PERSONAL_DATA_KEY") as refusal:
        Settings(environment="production", database_url="memory:")
    assert "LEDGER_JWT_SECRET" in str(refusal.value)

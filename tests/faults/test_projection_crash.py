"""The server killed with SIGKILL while its poller is projecting a backlog resumes, after a
restart, with views equal to a rebuild from the events: each projected exactly once."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from api.core.settings import Settings
from domain.application.ledger import Ledger
from domain.application.recording import ImportBatch
from scripts.loadtest import Client, roll_size
from tests.processes import Server, ledger_command
from tests.support import QIBIN, person

pytestmark = pytest.mark.postgres

GRANTS = 3000  # three events each: nine of the poller's batches of 1000


def record_backlog(server: Server, database_url: str) -> None:
    """Grants recorded straight into the ledger, with the server's keys, before it starts."""
    settings = Settings(
        database_url=database_url,
        personal_data_key=server.env["LEDGER_PERSONAL_DATA_KEY"],
        person_ref_key=server.env["LEDGER_PERSON_REF_KEY"],
        signing_key=server.env["LEDGER_SIGNING_KEY"],
    )
    ledger = Ledger(settings.ledger_env())
    try:
        ledger.set_standard(
            "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n"
        )
        now = datetime.now(UTC)
        with ImportBatch(ledger) as batch:
            for n in range(GRANTS):
                born = date(1950, 1, 1) + timedelta(days=n // 900)
                ledger.grant(
                    "disability-living",
                    QIBIN,
                    "2020-01",
                    [person(born, n % 900 + 1)],
                    grade=1,
                    actor="cw",
                    reason="backlog",
                    uow=batch.at(now),
                )
                if n % 500 == 499:
                    batch.flush()
    finally:
        ledger.close()


def positions(server: Server) -> tuple[int, int]:
    client = Client(server.url, "")
    answer = client.request("GET", "/ready")
    client.close()
    assert answer.status == 200, answer
    return answer.body["ledger_position"], answer.body["views_position"]


def test_views_killed_mid_projection_resume_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    server = Server(postgres_url, tmp_path / "server.log")
    record_backlog(server, postgres_url)
    server.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            ledger_at, views_at = positions(server)
            if 0 < views_at < ledger_at:
                break
            assert views_at < ledger_at, "the poller caught up before it could be killed"
            assert time.monotonic() < deadline, "the poller never started"
            time.sleep(0.02)
        server.kill()
        server.start()
        deadline = time.monotonic() + 120
        while (current := positions(server))[1] < current[0]:
            assert time.monotonic() < deadline, "the views never caught up"
            time.sleep(0.1)
        assert roll_size(server.url, server.token) == GRANTS
        print(f"\nkilled with the views at {views_at} of {ledger_at}; caught up after restart")
    finally:
        server.stop()
    rebuilt = ledger_command(server, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    verified = ledger_command(server, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

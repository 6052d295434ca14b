"""Eight clients for a minute of mixed decisions and queries against the server on
PostgreSQL: every grant acknowledged is stored, once, and no answer is a 5xx. The figures
printed are recorded in docs/reliability.md; speed is not asserted here."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from scripts.loadtest import run
from tests.processes import serving

pytestmark = pytest.mark.postgres

CLIENTS = 8
SECONDS = 60


def test_under_a_minute_of_load_every_acknowledged_grant_is_stored_once(
    postgres_url: str, tmp_path: Path
) -> None:
    with serving(postgres_url, tmp_path / "server.log") as server:
        result = run(server.url, server.token, CLIENTS, SECONDS)
    print("\n" + result.markdown())

    assert set(result.tally.statuses) <= {200, 201}, result.tally.statuses
    assert result.acknowledged_grants > 0
    assert result.acknowledged_grants == result.stored_grants
    with psycopg.connect(postgres_url) as connection:
        (granted,) = connection.execute(
            "SELECT count(*) FROM ledger_events WHERE topic LIKE %s", ("%:Case.Granted",)
        ).fetchone() or (0,)
    assert granted == result.acknowledged_grants

"""The server killed with SIGKILL in the middle of a burst of grants from several clients
loses no acknowledged decision and records none twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.loadtest import PROGRAMME, REGION, Client, identity_number
from tests.faults.burst import Burst, cases_of, hex_id, ledger_position, retry, set_standard
from tests.processes import Server, ledger_command

CLIENTS = 6
ACKNOWLEDGED_BEFORE_THE_KILL = 60


def close_january(server: Server) -> None:
    client = Client(server.url, server.token("finance-1", "finance"))
    answer = client.request("POST", f"/periods/{PROGRAMME}/{REGION}/2020-01/close")
    client.close()
    assert answer.status == 201, answer


@pytest.mark.parametrize(
    "store", [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]
)
def test_after_a_sigkill_mid_burst_every_acknowledged_grant_is_stored_exactly_once(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("postgres_url" if store == "postgresql" else "sqlite_url")
    server = Server(url, tmp_path / "server.log")
    server.start()
    try:
        set_standard(server)
        burst = Burst(server, CLIENTS, stop_on_no_answer=True)
        burst.start()
        burst.wait_for(
            lambda: len(burst.acknowledged()) >= ACKNOWLEDGED_BEFORE_THE_KILL / 2, "grants"
        )
        close_january(server)  # later grants for January become arrears to settle
        burst.wait_for(lambda: len(burst.acknowledged()) >= ACKNOWLEDGED_BEFORE_THE_KILL, "grants")
        server.kill()
        burst.stop()
        server.start()
        server.wait_ready()

        position = ledger_position(server)
        acknowledged = burst.acknowledged()
        unanswered = [d for d in burst.decisions if d not in acknowledged]
        assert unanswered, "the kill came after every request was answered"
        for decision in acknowledged:
            assert cases_of(server, burst.persons[decision.key], position) == [
                hex_id(decision.first)
            ]
        stored_unanswered = 0
        for decision in unanswered:
            assert decision.first is not None and decision.first.status == 0
            found = cases_of(server, burst.persons[decision.key], position)
            assert len(found) <= 1
            stored_unanswered += len(found)

        for decision in burst.decisions:
            decision.final = retry(server, decision)
            assert decision.final.status == 201, decision.final
            if decision in acknowledged:
                assert decision.final.body == decision.first.body  # type: ignore[union-attr]
        position = ledger_position(server)
        for decision in burst.decisions:
            assert cases_of(server, burst.persons[decision.key], position) == [
                hex_id(decision.final)
            ]
        print(
            f"\n{store}: {len(acknowledged)} grants acknowledged before the kill, "
            f"{len(unanswered)} unanswered ({stored_unanswered} of them stored); after the "
            f"restart and the retries "
            f"{len(burst.decisions)} stored, each once"
        )
    finally:
        server.stop()

    log = server.log_path.read_text()
    assert "负载测试" not in log
    for index in burst.persons.values():
        assert identity_number(index) not in log

    verified = ledger_command(server, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 of 1 closed months balance" in verified.stdout
    rebuilt = ledger_command(server, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr

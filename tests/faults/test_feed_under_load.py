"""The feed read while 8 clients write: a consumer polling ``/events`` and one following
``/events/stream`` each see every acknowledged decision once, in ledger order, with no
position skipped or repeated, and never a position the views cannot answer yet."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from scripts.loadtest import Client
from tests.delivery_processes import Writer, feed_positions, set_standard
from tests.processes import Server, serving

pytestmark = pytest.mark.postgres

WRITERS = 8
GRANTS_EACH = 25


def poll(server: Server, last_written: list[int], seen: list[int], lags: list[int]) -> None:
    """Reads the feed in small pages until it has read past the last decision written
    (``last_written`` holds it once the writers are done)."""
    client = Client(server.url, server.token("reader", "auditor"))
    after = 0
    while True:
        answer = client.request("GET", f"/events?after={after}&limit=7")
        assert answer.status == 200, answer
        seen.extend(int(event["id"]) for event in answer.body)
        for event in answer.body:  # the views answer at the announced position
            case = event["data"].get("case_id")
            if case:
                status = client.request(
                    "GET", f"/cases/{case}?known_at_position={event['id']}&as_of=2020-01"
                ).status
                lags.append(status)
        following = int(answer.headers["feed-next-after"])
        if last_written and following >= last_written[0]:
            break
        if following == after:
            time.sleep(0.05)
        after = following
    client.close()


def follow(server: Server, count: int, seen: list[int]) -> None:
    """The stream, from the first position, closed by the server after ``count`` events."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    token = server.token("reader", "auditor")
    headers = {"Authorization": f"Bearer {token}"}
    connection.request("GET", f"/events/stream?limit={count}", headers=headers)
    answer = connection.getresponse()
    assert answer.status == 200
    while line := answer.fp.readline():
        if line.startswith(b"data: "):
            seen.append(int(json.loads(line[6:])["id"]))
    connection.close()


def test_consumers_reading_during_eight_writers_see_every_position_once_in_order(
    postgres_url: str, tmp_path: Path
) -> None:
    with serving(postgres_url, tmp_path / "server.log") as server:
        set_standard(server)
        last_written: list[int] = []
        polled: list[int] = []
        streamed: list[int] = []
        answers: list[int] = []
        acknowledged: list[int] = []
        consumers = [
            threading.Thread(target=poll, args=(server, last_written, polled, answers)),
            threading.Thread(target=follow, args=(server, 1 + WRITERS * GRANTS_EACH, streamed)),
        ]
        for consumer in consumers:
            consumer.start()

        def write(n: int) -> None:
            writer = Writer(server, n * 10_000)
            for _ in range(GRANTS_EACH):
                answer = writer.grant()
                assert answer.status == 201, answer
                acknowledged.append(answer.body["position"])
            writer.close()

        writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        last_written.append(max(acknowledged))
        for consumer in consumers:
            consumer.join(120)

        everything = feed_positions(server, "auditor", through=max(acknowledged))
        assert len(everything) == 1 + WRITERS * GRANTS_EACH == len(acknowledged) + 1
        assert polled == everything
        assert streamed == everything
        assert set(answers) == {200}  # every announced case was readable at its position

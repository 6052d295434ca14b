"""Webhook deliveries through real faults, every process real and on loopback: the delivery
worker killed with SIGKILL mid-batch, a subscriber killed mid-response, another answering 500
and then not answering at all before it recovers. Afterwards every event has reached every
subscriber at least once and in order, a consumer deduplicating by ``webhook-id`` has each
exactly once, and the troubled subscriber never held the steady one up."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scripts.loadtest import Client
from tests.delivery_processes import (
    Subscriber,
    Writer,
    delivering,
    feed_positions,
    set_standard,
    wait_until,
)
from tests.processes import Server, serving

pytestmark = pytest.mark.postgres

WRITERS = 4
GRANTS_EACH = 15  # three events each, of which the feed announces the grant


def subscribe(server: Server, subscriber: Subscriber) -> str:
    client = Client(server.url, server.token("cw", "caseworker"))
    answer = client.request("POST", "/subscriptions", {"url": subscriber.url, "after": 0})
    client.close()
    assert answer.status == 201, answer
    subscriber.start(answer.body["secret"])
    subscription_id: str = answer.body["id"]
    return subscription_id


def write(server: Server, grants_each: int, offset: int) -> int:
    """Grants by ``WRITERS`` clients at once; the last position they were recorded at."""
    writers = [Writer(server, offset + n * 10_000) for n in range(WRITERS)]

    def one(writer: Writer) -> None:
        for _ in range(grants_each):
            assert writer.grant().status == 201
        writer.close()

    threads = [threading.Thread(target=one, args=(writer,)) for writer in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(writer.last_position for writer in writers)


def test_every_event_reaches_every_subscriber_in_order_through_kills_errors_and_timeouts(
    postgres_url: str, tmp_path: Path
) -> None:
    with serving(postgres_url, tmp_path / "server.log") as server:
        set_standard(server)
        steady, troubled = Subscriber(tmp_path, "steady"), Subscriber(tmp_path, "troubled")
        troubled.mode("fail")
        steady_id = subscribe(server, steady)
        troubled_id = subscribe(server, troubled)
        try:
            with delivering(server, tmp_path / "deliver-1.log") as deliverer:
                written: list[int] = []
                writing = threading.Thread(
                    target=lambda: written.append(write(server, GRANTS_EACH, 0))
                )
                writing.start()
                # The worker killed mid-batch (batches of 10), after some deliveries.
                wait_until(lambda: len(steady.received()) >= 15, 60, "first deliveries")
                deliverer.kill()
                killed_after = len(steady.distinct())
                deliverer.start()
                # The steady subscriber killed mid-response, then started again. The worker
                # may already have delivered all that was written, so more is written for
                # the subscriber to die on.
                steady.mode("die")
                more = write(server, 1, 50_000)
                wait_until(lambda: not steady.running, 120, "the subscriber died mid-response")
                steady.mode("ok")
                steady.start(steady.secret)
                writing.join()
                expected = feed_positions(server, through=max(written[0], more))
                assert len(expected) == 1 + WRITERS * (GRANTS_EACH + 1)

                # The troubled one answered 500 throughout: the steady one got everything.
                wait_until(lambda: steady.distinct() == expected, 300, "steady caught up")
                assert troubled.distinct() == expected[:1]
                assert {mode for _, _, mode in troubled.arrivals()} == {"fail"}

                # Then it stops answering at all (the worker's timeout is 2 s) while more
                # decisions arrive; the steady one gets them at once.
                troubled.mode("hang")
                wait_until(
                    lambda: any(m == "hang" for _, _, m in troubled.arrivals()), 30, "a timeout"
                )
                expected = feed_positions(server, through=write(server, 2, 100_000))
                wait_until(lambda: steady.distinct() == expected, 300, "steady caught up again")
                assert troubled.distinct() == expected[:1]

                # It recovers: its backlog drains, in order.
                troubled.mode("ok")
                wait_until(lambda: troubled.distinct() == expected, 300, "troubled drained")

            for subscriber in (steady, troubled):
                # First arrivals in ledger order; deduplicated by id, each exactly once.
                assert subscriber.distinct() == expected
                assert set(subscriber.received()) == set(expected)
            assert killed_after < len(expected)
            assert len(steady.received()) > len(steady.distinct())  # the died-on one, again

            reader = Client(server.url, server.token("cw", "caseworker"))
            attempts = reader.request("GET", f"/subscriptions/{troubled_id}/deliveries").body
            outcomes = {(a["outcome"], a["status"]) for a in attempts["attempts"]}
            assert {("failed", 500), ("failed", None), ("delivered", 204)} <= outcomes
            failures = sum(1 for a in attempts["attempts"] if a["outcome"] == "failed")
            print(  # the figures docs/reliability.md records
                f"\nevents {len(expected)}; steady: received {len(steady.received())}, "
                f"distinct {len(steady.distinct())}, killed-worker point {killed_after}; "
                f"troubled: received {len(troubled.received())}, failed attempts {failures}"
            )
            state = reader.request("GET", f"/subscriptions/{steady_id}").body
            assert (state["state"], state["acknowledged"] >= expected[-1]) == ("active", True)
            reader.close()
        finally:
            steady.kill()
            troubled.kill()

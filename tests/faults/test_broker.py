"""The change feed published to a real JetStream stream (the server on 127.0.0.1:4222, or
one the test starts): the delivery worker killed mid-stream and everything published again
from position 0, and the stream still holds each event once, in ledger order, as the same
CloudEvent the feed gives."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.delivery_processes import (
    Writer,
    delivering,
    feed_positions,
    jetstream,
    set_standard,
    wait_until,
)
from tests.processes import ledger_command, serving

pytestmark = pytest.mark.postgres

GRANTS = 40


async def _stream(url: str, stream: str, action: str) -> Any:
    client = await nats.connect(url, connect_timeout=5)
    try:
        js = client.jetstream()
        if action == "delete":
            return await js.delete_stream(stream)
        info = await js.stream_info(stream)
        if action == "count":
            return info.state.messages
        messages = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, sequence)
            messages.append((message.headers or {}, json.loads(message.data or b"{}")))
        return messages
    finally:
        await client.close()


def stream_state(url: str, stream: str, action: str) -> Any:
    try:
        return asyncio.run(_stream(url, stream, action))
    except nats.js.errors.NotFoundError:
        return 0 if action == "count" else []


def test_each_event_is_in_the_stream_once_in_order_through_a_kill_and_a_full_republish(
    postgres_url: str, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex[:10]
    stream, subject = f"LEDGER_T_{name}", f"ledger_t_{name}.events"
    with (
        jetstream(tmp_path / "jetstream") as url,
        serving(postgres_url, tmp_path / "s.log") as server,
    ):
        set_standard(server)
        writer = Writer(server, 0)
        writing = threading.Thread(target=lambda: [writer.grant() for _ in range(GRANTS)])
        writing.start()
        settings = {
            "nats_url": url,
            "nats_stream": stream,
            "nats_subject": subject,
            "nats_role": "auditor",
        }
        try:
            with delivering(server, tmp_path / "deliver-1.log", **settings) as deliverer:
                wait_until(lambda: stream_state(url, stream, "count") >= 5, 180, "first publishes")
                deliverer.kill()
                deliverer.start()
                writing.join()
                writer.close()
                expected = feed_positions(server, "auditor", through=writer.last_position)
                wait_until(
                    lambda: stream_state(url, stream, "count") == len(expected),
                    180,
                    "all published",
                )
                # Everything again, from the first position: the broker drops the repeats.
                again = ledger_command(server, "redeliver", f"nats:{stream}", "--after", "0")
                assert again.returncode == 0, again.stderr

                def republished() -> bool:
                    listed = ledger_command(server, "deliveries", f"nats:{stream}", "--limit=9999")
                    return listed.stdout.count(" delivered ") >= 2 * len(expected)

                wait_until(republished, 180, "every event published a second time")

            messages = stream_state(url, stream, "messages")
            assert [int(headers["Nats-Msg-Id"]) for headers, _ in messages] == expected
            assert [int(event["id"]) for _, event in messages] == expected
            assert {event["specversion"] for _, event in messages} == {"1.0"}
            assert messages[-1][1]["type"].endswith("case.granted")
        finally:
            stream_state(url, stream, "delete")

"""A webhook subscriber beside the load test's writers: how fast the feed is delivered, and
how long after its record time each event arrives.

It listens on a free loopback port, subscribes there from the current position (with a
token of the auditor role, so it gets every type), verifies every delivery with the helper
consumers are given, and notes the arrival time against the event's ``time``. Deliveries
are made by ``ledger deliver``, which must run beside the service.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from api.services.webhook_signatures import WebhookVerificationError, verify
from scripts.benchmarks.figures import percentile
from scripts.loadtest import Answer, Client, Tokens


@dataclass
class Arrivals:
    lags: dict[int, float] = field(default_factory=dict)  # position -> seconds after record
    first: float | None = None
    last: float | None = None
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class LoadSubscriber:
    def __init__(self, url: str, tokens: Tokens) -> None:
        self.url = url
        self.client = Client(url, tokens("loadtest-subscriber", "auditor"))
        self.arrivals = Arrivals()
        self.secret = ""
        arrivals = self.arrivals
        subscriber = self

        class Receiver(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps the worker's connection open

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    position = int(verify(subscriber.secret, dict(self.headers.items()), body))
                except (WebhookVerificationError, ValueError):
                    with arrivals.lock:
                        arrivals.refused += 1
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                now = time.time()
                recorded = datetime.fromisoformat(json.loads(body)["time"]).timestamp()
                with arrivals.lock:
                    arrivals.lags.setdefault(position, now - recorded)
                    arrivals.first = arrivals.first or now
                    arrivals.last = now
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.subscription_id = ""

    def start(self) -> None:
        self.thread.start()
        hook = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        answer = self.client.request("POST", "/subscriptions", {"url": hook})
        if answer.status != 201:
            raise RuntimeError(f"subscribing failed: {answer.status} {answer.body}")
        self.secret = answer.body["secret"]
        self.subscription_id = answer.body["id"]

    def drain(self, timeout: float = 120.0) -> bool:
        """Wait until everything the feed announces now has arrived; False on timeout."""
        latest = self._latest()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.arrivals.lock:
                if latest == 0 or latest in self.arrivals.lags:
                    return True
            time.sleep(0.2)
        return False

    def _get(self, path: str) -> Answer:
        """A GET, again once if the kept-alive connection was closed meanwhile."""
        answer = self.client.request("GET", path)
        if answer.status == 0:
            answer = self.client.request("GET", path)
        if answer.status != 200:
            raise RuntimeError(f"GET {path} answered {answer.status}")
        return answer

    def _latest(self) -> int:
        latest = 0
        state = self._get(f"/subscriptions/{self.subscription_id}").body
        after = int(state["acknowledged"])
        while True:
            page = self._get(f"/events?after={after}&limit=1000")
            if page.body:
                latest = int(page.body[-1]["id"])
            following = int(page.headers["feed-next-after"])
            if following == after:
                return latest
            after = following

    def stop(self) -> None:
        path = f"/subscriptions/{self.subscription_id}"
        if self.client.request("DELETE", path).status == 0:
            self.client.request("DELETE", path)
        self.client.close()
        self.server.shutdown()
        self.server.server_close()

    def markdown(self, drained: bool) -> str:
        arrivals = self.arrivals
        lags = list(arrivals.lags.values())
        if not lags or arrivals.first is None or arrivals.last is None:
            return "- webhook subscriber: nothing delivered (is `ledger deliver` running?)"
        span = max(arrivals.last - arrivals.first, 1e-3)
        return "\n".join(
            [
                f"- webhook subscriber: {len(lags)} events delivered "
                f"({len(lags) / span:.1f}/s), refused signatures: {arrivals.refused}"
                + ("" if drained else "; the backlog had not drained"),
                f"- delivery lag after record time: p50 {percentile(lags, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(lags, 0.99) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms",
            ]
        )

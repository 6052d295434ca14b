"""A verification platform for the tests: a real HTTP server on loopback whose next answers
the test chooses: a report, a slow report (past the client's timeout), or an error."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from domain.months import BUREAU_TIME_ZONE

SLOW_SECONDS = 1.5


@dataclass
class FakePlatform:
    """``behaviours`` are taken one per request (``answer``, ``slow``, ``error``); when none
    is left, it answers. Each member's verified income is ``income``; a request id is
    answered with the same report each time."""

    url: str = ""
    income: str = "200.00"
    made_on: date = field(default_factory=lambda: datetime.now(BUREAU_TIME_ZONE).date())
    behaviours: deque[str] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def answer_for(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "report_id": f"CITY-{request['request_id'][:8]}",
            "level": "city",
            "made_on": self.made_on.isoformat(),
            "sources": ["wages", "pensions", "real-estate", "vehicles", "provident-fund"],
            "members": [
                {"identity_number": number, "income": self.income}
                for number in request["identity_numbers"]
            ],
        }


@contextmanager
def fake_platform(**given: Any) -> Iterator[FakePlatform]:
    platform = FakePlatform(**given)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length))
            platform.requests.append(request)
            behaviour = platform.behaviours.popleft() if platform.behaviours else "answer"
            if behaviour == "error":
                self._send(503, {"error": "maintenance"})
                return
            if behaviour == "slow":
                time.sleep(SLOW_SECONDS)
            self._send(200, platform.answer_for(request))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    platform.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

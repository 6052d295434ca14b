"""A webhook receiver of the tests' own, run as a real process on loopback:
``python -m tests.subscriber PORT SECRET LOG MODE_FILE``.

Each delivery is checked with the verification helper the project ships; a verified one has
its ``webhook-id`` and arrival time appended to LOG *before* answering, so that a delivery
received but never acknowledged is seen (and must be seen again). MODE_FILE, read at every
request, says how to answer: ``ok`` (204), ``fail`` (500), ``hang`` (answer nothing for a
minute), ``die`` (exit at once, mid-response, without answering).
"""

from __future__ import annotations

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from api.services.webhook_signatures import WebhookVerificationError, verify


def main(port: int, secret: str, log: Path, mode_file: Path) -> None:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                message_id = verify(secret, dict(self.headers.items()), body)
            except WebhookVerificationError:
                self.send_response(401)
                self.end_headers()
                return
            mode = mode_file.read_text().strip() if mode_file.exists() else "ok"
            with log.open("a") as out:
                out.write(f"{message_id} {time.time():.6f} {mode}\n")
            if mode == "die":
                os._exit(1)
            if mode == "hang":
                time.sleep(60)
            self.send_response(500 if mode == "fail" else 204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))

"""Read replicas beside the load test's writers: how far behind the primary each one is.

It reads /ready every tenth of a second while the load runs and keeps, per replica, its
lag in ledger positions and WAL bytes and whether it was up, and beside them, as the
baseline of the same run, the primary's own projection lag (positions recorded and not yet
in its views), which every replica's lag comes on top of. The load's own answers say which
server answered each query (``Ledger-Read-From``, counted by the load's tally).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from scripts.benchmarks.figures import percentile
from scripts.loadtest import Client, Tokens

SAMPLE_SECONDS = 0.1


@dataclass
class Lags:
    positions: list[float] = field(default_factory=list)
    bytes: list[float] = field(default_factory=list)
    samples: int = 0
    down: int = 0


class ReplicaWatcher:
    def __init__(self, url: str, tokens: Tokens) -> None:
        self.client = Client(url, tokens("loadtest-replicas", "auditor"))
        self.lags: dict[str, Lags] = {}
        self.projection = Lags()  # the primary's views behind its ledger
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="replica-watcher")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self.client.close()

    def _watch(self) -> None:
        while not self._stopping.wait(SAMPLE_SECONDS):
            answer = self.client.request("GET", "/ready")
            if answer.status != 200:
                continue
            self.projection.samples += 1
            self.projection.positions.append(
                answer.body["ledger_position"] - answer.body["views_position"]
            )
            for replica in answer.body.get("replicas") or []:
                lags = self.lags.setdefault(replica["name"], Lags())
                lags.samples += 1
                if replica["state"] != "up":
                    lags.down += 1
                    continue
                lags.positions.append(replica["lag_positions"])
                if replica["lag_bytes"] is not None:
                    lags.bytes.append(replica["lag_bytes"])

    def markdown(self) -> str:
        if not self.lags:
            return "The service reports no read replicas (LEDGER_REPLICA_URLS is not set)."
        lines = [
            f"Replica lag, sampled from /ready every {SAMPLE_SECONDS:g} s during the load:",
            "",
            "| replica | samples | down | positions p50 | p99 | max | bytes p50 | p99 | max |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = [("primary's projection (baseline)", self.projection), *sorted(self.lags.items())]
        for name, lags in rows:
            figures = [
                f"{percentile(values, fraction):.0f}"
                for values in (lags.positions, lags.bytes)
                for fraction in (0.5, 0.99, 1.0)
            ]
            figures = [figure.replace("nan", "-") for figure in figures]
            lines.append(f"| {name} | {lags.samples} | {lags.down} | {' | '.join(figures)} |")
        return "\n".join(lines)

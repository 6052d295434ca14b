"""How far the province lags behind its cities: cities and a province, each a PostgreSQL
cluster of its own on loopback, the province subscribed to every city and one ``ledger
province follow`` running; every city records decisions at a steady rate, all at once, and,
for each decision, the time from its commit at the city to (a) its row arriving in the
province's copy of the city's event table (logical replication alone, the raw baseline) and
(b) the province's views of the city reaching its position.

    python -m scripts.province_lag [--cities 3] [--seconds 30] [--rate 20]

Needs root (the clusters run as the postgres user), as tests/cluster does.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import psycopg

from api.core.settings import Settings
from api.services.province import Province
from domain.application.ledger import Ledger
from domain.months import Month
from domain.people.identity import check_character
from domain.people.person import PersonInput
from projections.province.replication import city_database, publish
from projections.storage.keys import public_key_text
from projections.storage.opening import postgres_conninfo
from projections.storage.signing import signatures_of
from tests.clusters import Cluster, cluster_folder

REGION = "410611"
WATCH_SECONDS = 0.005


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _number(serial: int) -> str:
    # Serials beyond 999 take the next birth dates, so that every number differs.
    day = date.fromordinal(date(1960, 1, 1).toordinal() + serial // 1000)
    first_17 = f"{REGION}{day:%Y%m%d}{serial % 1000:03d}"
    return first_17 + check_character(first_17)


class Watch(threading.Thread):
    """Notes when each position first shows in the province's event table and views."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.replicated: dict[int, float] = {}
        self.projected: dict[int, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            seen_rows = seen_views = 0
            while not self.stopping.is_set():
                row = connection.execute(
                    "SELECT (SELECT COALESCE(max(notification_id), 0) FROM ledger_events),"
                    " to_regclass('ledger_views.tracking') IS NOT NULL"
                ).fetchone()
                if row and row[1]:
                    tracked = connection.execute(
                        "SELECT position FROM ledger_views.tracking WHERE name = 'views'"
                    ).fetchone()
                    row = (row[0], tracked[0] if tracked else 0)
                else:
                    row = (row[0] if row else 0, 0)
                now = time.monotonic()
                rows, views = (int(row[0]), int(row[1])) if row else (0, 0)
                for position in range(seen_rows + 1, rows + 1):
                    self.replicated[position] = now
                for position in range(seen_views + 1, views + 1):
                    self.projected[position] = now
                seen_rows, seen_views = max(seen_rows, rows), max(seen_views, views)
                time.sleep(WATCH_SECONDS)


def _lags(committed: dict[int, float], seen: dict[int, float]) -> list[float]:
    return [seen[position] - at for position, at in committed.items() if position in seen]


def _figures(name: str, decisions: int, lags: list[float]) -> None:
    lags = sorted(lags)
    if not lags:
        print(f"{name}: none of {decisions} decisions seen")
        return
    p95 = lags[max(0, int(len(lags) * 0.95) - 1)]
    print(
        f"{name}: {len(lags)} of {decisions} decisions; median "
        f"{statistics.median(lags) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {lags[-1] * 1000:.0f} ms"
    )


def _city_ledger(city: Cluster) -> Ledger:
    city.execute("CREATE DATABASE ledger")
    settings = Settings.model_validate(
        {
            "database_url": city.url("ledger"),
            "personal_data_key": _key(),
            "person_ref_key": _key(),
            "jwt_secret": _key(),
        }
    )
    ledger = Ledger(settings.ledger_env())
    ledger.set_standard(
        "disability-living", REGION, "2024-01", {"standard": "500"},
        actor="finance-1", reason="notice",
    )  # fmt: skip
    publish(postgres_conninfo(dict(ledger.env)), "lag")
    return ledger


def _subscribe(province_url: str, name: str, city: Cluster, ledger: Ledger) -> None:
    signatures = signatures_of(ledger.mapper)
    if signatures is None:
        raise RuntimeError("the city's ledger does not sign its events")
    keys = {key_id: public_key_text(key) for key_id, key in signatures.keyring.public.items()}
    with Province(province_url) as at_province:
        at_province.subscribe(name, city.url("ledger"), keys)


class Writer(threading.Thread):
    """Grants a case ``rate`` times a second for ``seconds``; notes when each committed."""

    def __init__(self, ledger: Ledger, seconds: float, rate: float) -> None:
        super().__init__(daemon=True)
        self.ledger, self.seconds, self.rate = ledger, seconds, rate
        self.committed: dict[int, float] = {}

    def run(self) -> None:
        effective = Month.at(datetime.now(UTC))
        deadline = time.monotonic() + self.seconds
        serial = 0
        while time.monotonic() < deadline:
            serial += 1
            started = time.monotonic()
            self.ledger.grant(
                "disability-living", REGION, effective, [PersonInput(_number(serial), "张三")],
                grade=1, actor="cw-1", reason="certificate",
            )  # fmt: skip
            self.committed[self.ledger.position] = time.monotonic()
            time.sleep(max(0.0, 1 / self.rate - (time.monotonic() - started)))


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


def _projected(ledger: Ledger, watch: Watch) -> Callable[[], bool]:
    return lambda: ledger.position in watch.projected


def _measure(
    names: list[str], clusters: dict[str, Cluster], province: Cluster, args: argparse.Namespace
) -> None:
    ledgers = {name: _city_ledger(clusters[name]) for name in names}
    province.execute("CREATE DATABASE province")
    province_url = province.url("province")
    for name in names:
        _subscribe(province_url, name, clusters[name], ledgers[name])
    follower = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "province", "follow"],
        env={**os.environ, "LEDGER_PROVINCE_URL": province_url},
    )
    try:
        watches = {name: Watch(province.url(city_database(name))) for name in names}
        for watch in watches.values():
            watch.start()
        for name in names:  # each city's history, copied and projected
            _wait(_projected(ledgers[name], watches[name]), 60)
        writers = [Writer(ledgers[name], args.seconds, args.rate) for name in names]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        for name in names:
            _wait(_projected(ledgers[name], watches[name]), 60)
    finally:
        follower.terminate()
        follower.wait(10)
    decisions = sum(len(w.committed) for w in writers)
    print(
        f"{len(names)} cities, {decisions} decisions in {args.seconds:g} s "
        f"({decisions / args.seconds:.1f} a second in all), "
        f"{sum(ledger.position for ledger in ledgers.values())} events"
    )
    raw, views = [], []
    for name, writer in zip(names, writers, strict=True):
        watches[name].stopping.set()
        watches[name].join()
        raw += _lags(writer.committed, watches[name].replicated)
        views += _lags(writer.committed, watches[name].projected)
        ledgers[name].close()
    _figures("replicated (raw, logical replication)", decisions, raw)
    _figures("projected (the province's views)", decisions, views)
    if raw and views:
        ratio = statistics.median(views) / statistics.median(raw)
        print(f"median lag of the views / median lag of replication: {ratio:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="decisions a second, each city")
    args = parser.parse_args()
    names = [f"city{number}" for number in range(1, args.cities + 1)]
    with cluster_folder("ledger-province-lag-") as root:
        clusters = {name: Cluster.create(root, name) for name in [*names, "province"]}
        try:
            for cluster in clusters.values():
                cluster.start()
            _measure(names, clusters, clusters["province"], args)
        finally:
            for cluster in clusters.values():
                cluster.destroy()


if __name__ == "__main__":
    main()

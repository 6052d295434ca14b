"""How far the province lags behind a city: a city and a province, each a PostgreSQL cluster
of its own on loopback, the province subscribed and ``ledger province follow`` running; the
city records decisions at a steady rate and, for each, the time from its commit at the city to
(a) its row arriving in the province's copy of the event table (logical replication alone,
the raw baseline) and (b) the province's views of the city reaching its position.

    python -m scripts.province_lag [--seconds 30] [--rate 20]

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


def _figures(name: str, committed: dict[int, float], seen: dict[int, float]) -> list[float]:
    lags = [seen[p] - t for p, t in committed.items() if p in seen]
    lags.sort()
    if not lags:
        print(f"{name}: none of {len(committed)} decisions seen")
        return lags
    p95 = lags[max(0, int(len(lags) * 0.95) - 1)]
    print(
        f"{name}: {len(lags)} of {len(committed)} decisions; median "
        f"{statistics.median(lags) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms"
    )
    return lags


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


def _subscribe(province: Cluster, city: Cluster, ledger: Ledger) -> str:
    """Subscribe the province to the city; the province's URL."""
    province.execute("CREATE DATABASE province")
    signatures = signatures_of(ledger.mapper)
    if signatures is None:
        raise RuntimeError("the city's ledger does not sign its events")
    keys = {key_id: public_key_text(key) for key_id, key in signatures.keyring.public.items()}
    url = province.url("province")
    with Province(url) as at_province:
        at_province.subscribe("city", city.url("ledger"), keys)
    return url


def _write(ledger: Ledger, seconds: float, rate: float) -> dict[int, float]:
    """Grant a case ``rate`` times a second for ``seconds``; when each was committed."""
    committed: dict[int, float] = {}
    effective = Month.at(datetime.now(UTC))
    deadline = time.monotonic() + seconds
    serial = 0
    while time.monotonic() < deadline:
        serial += 1
        started = time.monotonic()
        ledger.grant(
            "disability-living", REGION, effective, [PersonInput(_number(serial), "张三")],
            grade=1, actor="cw-1", reason="certificate",
        )  # fmt: skip
        committed[ledger.position] = time.monotonic()
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    return committed


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="decisions per second")
    args = parser.parse_args()
    with cluster_folder("ledger-province-lag-") as root:
        city, province = Cluster.create(root, "city"), Cluster.create(root, "province")
        follower: subprocess.Popen[bytes] | None = None
        try:
            for cluster in (city, province):
                cluster.start()
            ledger = _city_ledger(city)
            province_url = _subscribe(province, city, ledger)
            follower = subprocess.Popen(
                [sys.executable, "-c", "from api.cli import main; main()", "province", "follow"],
                env={**os.environ, "LEDGER_PROVINCE_URL": province_url},
            )
            watch = Watch(province.url(city_database("city")))
            watch.start()
            first = ledger.position
            _wait(lambda: first in watch.projected, 60)  # the history, copied and projected
            committed = _write(ledger, args.seconds, args.rate)
            _wait(lambda: ledger.position in watch.projected, 60)
            watch.stopping.set()
            watch.join()
            print(
                f"{len(committed)} decisions in {args.seconds:g} s at a city "
                f"({len(committed) / args.seconds:.1f} a second), {ledger.position} events"
            )
            raw = _figures("replicated (raw, logical replication)", committed, watch.replicated)
            views = _figures("projected (the province's views)", committed, watch.projected)
            if raw and views:
                ratio = statistics.median(views) / statistics.median(raw)
                print(f"median lag of the views / median lag of replication: {ratio:.1f}")
            ledger.close()
        finally:
            if follower is not None:
                follower.terminate()
                follower.wait(10)
            city.destroy()
            province.destroy()


if __name__ == "__main__":
    main()

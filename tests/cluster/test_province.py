"""The province over three cities, each a PostgreSQL cluster of its own, by logical
replication: the provincial totals equal the sum of the cities' own to the fen, each city's
audit chain verifies at the province, a city that is offline shows its last position and
catches up when it returns, and a person holding exclusive programmes in two cities is
listed as a conflict."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from api.cli import main
from api.core.settings import Settings
from api.services.closing import close_period
from api.services.province import Province, reference_check
from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.months import Month
from domain.people.identity import IdentityNumber, PersonReferences
from domain.people.person import PersonInput
from projections.engine.projector import Projector
from projections.province.consolidation import provincial_totals
from projections.province.replication import publish
from projections.reads.period_accounts import MonthTotal, month_totals
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views, postgres_conninfo
from tests.clusters import Cluster, cluster_folder
from tests.support import BEFORE_VERIFICATIONS, at, identity_number, set_reference_standards

WAIT_SECONDS = 180
MONTH = Month.parse("2024-03")
FEBRUARY = Month.parse("2024-02")
# The province's cities make person references with one key: the province's.
SHARED_PERSON_REF_KEY = base64.b64encode(os.urandom(32)).decode()
# Someone granted dibao in Hebi and tekun in Anyang, which exclude each other.
TWICE_HELD = identity_number(date(1950, 5, 5), 900)


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _signing_key() -> str:
    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return base64.b64encode(raw).decode()


@dataclass
class City:
    name: str
    region: str
    serial: int  # the first serial of its people's identity numbers
    cluster: Cluster
    env: dict[str, str]  # LEDGER_* settings of its ledger
    ledger: Ledger
    views: ViewDatabase

    @property
    def projector(self) -> Projector:
        return Projector(self.ledger.recorder, self.ledger.mapper, self.views)

    def own_totals(self, month: Month) -> list[MonthTotal]:
        self.projector.catch_up()
        return month_totals(self.views, month, self.ledger.position)

    def when(self, text: str) -> SaveAt:
        return SaveAt(self.ledger, at(text))

    def person(self, number: int) -> PersonInput:
        return PersonInput(identity_number(date(1970, 1, 1), self.serial + number), "张三")

    def close(self, programme: str, month: str, day: str) -> None:
        self.projector.catch_up()
        close_period(
            self.ledger,
            self.views,
            programme,
            self.region,
            Month.parse(month),
            actor="finance-1",
            uow=self.when(f"{month}-{day} 18:00"),
        )

    def record_history(self) -> None:
        """Standards from January 2024, a dibao household, a disability case and a case for
        the person held in two cities; January and February closed, a raise of February
        recorded in March (arrears), March closed."""
        ledger = self.ledger
        set_reference_standards(ledger, self.region, "2024-01", uow=self.when("2024-01-02 09:00"))
        ledger.grant(
            "dibao-urban", self.region, "2024-01", [self.person(1), self.person(2)],
            income="200", actor="cw-1", reason="assessed", uow=self.when("2024-01-05 10:00"),
        )  # fmt: skip
        ledger.grant(
            "disability-living", self.region, "2024-01", [self.person(3)], grade=1,
            actor="cw-1", reason="certificate", uow=self.when("2024-01-06 10:00"),
        )  # fmt: skip
        twice = PersonInput(TWICE_HELD, "李四")
        if self.name == "hebi":
            ledger.grant(
                "dibao-urban", self.region, "2024-02", [twice], income="300", actor="cw-1",
                reason="assessed", uow=self.when("2024-01-20 10:00"),
            )  # fmt: skip
        if self.name == "anyang":
            ledger.grant(
                "tekun", self.region, "2024-02", [twice], area="urban", tier="self",
                actor="cw-1", reason="assessed", uow=self.when("2024-01-20 10:00"),
            )  # fmt: skip
        for month, day in (("2024-01", "31"), ("2024-02", "29")):
            for programme in ("dibao-urban", "disability-living", "tekun"):
                self.close(programme, month, day)
        ledger.set_standard(
            "dibao-urban", self.region, "2024-02", {"standard": "650"}, actor="finance-1",
            reason="raise of February, announced in March", uow=self.when("2024-03-05 09:00"),
        )  # fmt: skip
        for programme in ("dibao-urban", "disability-living", "tekun"):
            self.close(programme, "2024-03", "31")
        self.projector.catch_up()


@dataclass
class Provincial:
    cities: dict[str, City]
    province: Cluster
    url: str

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["province", *args], env={"LEDGER_PROVINCE_URL": self.url})

    def api(self) -> Province:
        """The province, opened afresh (a city subscribed again is read with its new keys);
        closed by the caller."""
        return Province(self.url)


def _wait_until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_SECONDS} s for {what}")
        time.sleep(0.5)


def _received_everything(provincial: Provincial, city: City) -> Callable[[], bool]:
    def done() -> bool:
        with provincial.api() as province:
            province.catch_up(city.name)
            status = province.status(city.name)
        return status.current and status.position == city.ledger.position

    return done


def _settings(env: dict[str, str]) -> Settings:
    """The settings ``env`` (LEDGER_* variables) gives, as the command line reads them."""
    return Settings.model_validate(
        {key.removeprefix("LEDGER_").lower(): value for key, value in env.items()}
    )


def _open_city(name: str, region: str, serial: int, cluster: Cluster) -> City:
    cluster.execute("CREATE DATABASE ledger")
    env = {
        "LEDGER_DATABASE_URL": cluster.url("ledger"),
        "LEDGER_PERSONAL_DATA_KEY": _key(),
        "LEDGER_PERSON_REF_KEY": SHARED_PERSON_REF_KEY,
        "LEDGER_JWT_SECRET": _key(),
        "LEDGER_SIGNING_KEY": _signing_key(),
        "LEDGER_SIGNING_KEY_ID": f"{name}-2024",
    }
    settings = _settings(env)
    ledger = Ledger({**settings.ledger_env(), **BEFORE_VERIFICATIONS})
    return City(name, region, serial, cluster, env, ledger, open_views(ledger.env))


@pytest.fixture(scope="module")
def provincial() -> Iterator[Provincial]:
    with cluster_folder("ledger-province-") as root:
        clusters: list[Cluster] = []
        cities: dict[str, City] = {}
        try:
            for name in ("hebi", "anyang", "xinxiang", "province"):
                clusters.append(Cluster.create(root, name))
                clusters[-1].start()
            *city_clusters, province = clusters
            for (name, region, serial), cluster in zip(
                (("hebi", "410602", 100), ("anyang", "410611", 200), ("xinxiang", "410621", 300)),
                city_clusters,
                strict=True,
            ):
                city = cities[name] = _open_city(name, region, serial, cluster)
                city.record_history()
                published = CliRunner().invoke(main, ["province", "publish"], env=city.env)
                assert published.exit_code == 0, published.output
            provincial = Provincial(cities, province, province.url("province"))
            province.execute("CREATE DATABASE province")
            for city in cities.values():
                keys = CliRunner().invoke(main, ["verify-keys"], env=city.env)
                assert keys.exit_code == 0, keys.output
                subscribed = provincial.run(
                    "subscribe", "--city", city.name, "--url", city.cluster.url("ledger"),
                    "--verify-keys", keys.stdout.strip(),
                )  # fmt: skip
                assert subscribed.exit_code == 0, subscribed.output
            for city in cities.values():
                _wait_until(f"{city.name}'s events", _received_everything(provincial, city))
            yield provincial
        finally:
            for city in cities.values():
                city.views.close()
                city.ledger.close()
            for cluster in clusters:
                cluster.destroy()


Sums = dict[str, tuple[int, Decimal, Decimal, Decimal, Decimal]]


def _sums(totals: list[MonthTotal]) -> Sums:
    sums: Sums = {}
    zero = Decimal("0.00")
    for t in totals:
        cases, entitled, paid, settled, outstanding = sums.get(
            t.programme, (0, zero, zero, zero, zero)
        )
        sums[t.programme] = (
            cases + t.cases,
            entitled + t.entitled,
            paid + (t.paid or zero),
            settled + (t.settled or zero),
            outstanding + (t.outstanding or zero),
        )
    return sums


def _cities_own_sums(provincial: Provincial, month: Month) -> Sums:
    return _sums([t for city in provincial.cities.values() for t in city.own_totals(month)])


def _province_sums(provincial: Provincial, month: Month) -> Sums:
    with provincial.api() as province:
        cities = province.totals(month)
    return {
        t.programme: (t.cases, t.entitled, t.paid, t.settled, t.outstanding)
        for t in provincial_totals(cities)
    }


def test_the_provincial_totals_equal_the_sum_of_the_cities_own_to_the_fen(
    provincial: Provincial,
) -> None:
    for month in (FEBRUARY, MONTH):
        assert _province_sums(provincial, month) == _cities_own_sums(provincial, month)
    # The raise of February, recorded after February closed, is settled in March's close
    # in every city: the figures are those of real months, not zeros.
    assert _cities_own_sums(provincial, FEBRUARY)["dibao-urban"][3] > 0
    own = _cities_own_sums(provincial, MONTH)
    assert own["dibao-urban"][0] == 4  # a household in each city, and Hebi's second
    result = provincial.run("totals", "--as-of", str(MONTH))
    assert result.exit_code == 0, result.output
    for city in provincial.cities.values():
        assert any(
            line.split()[:3] == [city.name, str(city.ledger.position), "current"]
            for line in result.stdout.splitlines()
        ), result.stdout
    entitled = own["dibao-urban"][1]
    assert any(
        line.split()[:3] == ["dibao-urban", "4", str(entitled)]
        for line in result.stdout.splitlines()
    ), result.stdout


def test_the_provincial_roll_lists_every_city_case_and_sums_to_the_totals(
    provincial: Provincial,
) -> None:
    with provincial.api() as province:
        rolls = province.rolls("dibao-urban", MONTH)
    assert sorted((r.city, r.region, len(r.entries)) for r in rolls) == [
        ("anyang", "410611", 1),
        ("hebi", "410602", 2),
        ("xinxiang", "410621", 1),
    ]
    entitled = _cities_own_sums(provincial, MONTH)["dibao-urban"][1]
    assert sum(e.amount for r in rolls for e in r.entries) == entitled
    result = provincial.run("roll", "--programme", "dibao-urban", "--as-of", str(MONTH))
    assert result.exit_code == 0, result.output
    assert f"roll of dibao-urban in {MONTH}: 4 cases" in result.stdout
    (total,) = [line.split() for line in result.stdout.splitlines() if "total" in line.split()]
    assert total[-1] == str(entitled)
    refused = provincial.run("roll", "--programme", "dibao", "--as-of", str(MONTH))
    assert refused.exit_code == 2
    assert "unknown programme 'dibao'" in refused.output


def test_each_city_audit_chain_verifies_at_the_province_with_the_city_keys(
    provincial: Provincial,
) -> None:
    for city in provincial.cities.values():
        result = provincial.run("verify", "--city", city.name)
        assert result.exit_code == 0, result.output
        with provincial.api() as province:
            head = province.verify(city.name).chain.head
        assert head.position == city.ledger.position
        assert f"{city.name}: head {head}" in result.stdout


def test_a_city_is_refused_when_the_province_holds_another_city_keys(
    provincial: Provincial, tmp_path: Path
) -> None:
    hebi, anyang = provincial.cities["hebi"], provincial.cities["anyang"]
    keys = CliRunner().invoke(main, ["verify-keys"], env=anyang.env).stdout.strip()
    resubscribed = provincial.run(
        "subscribe", "--city", hebi.name, "--url", hebi.cluster.url("ledger"),
        "--verify-keys", keys,
    )  # fmt: skip
    assert resubscribed.exit_code == 0, resubscribed.output
    try:
        result = provincial.run("verify", "--city", "hebi")
        assert result.exit_code == 1
        assert "hebi-2024" in result.output
        assert "not among the verify keys" in result.output
    finally:
        own = CliRunner().invoke(main, ["verify-keys"], env=hebi.env).stdout.strip()
        provincial.run(
            "subscribe", "--city", hebi.name, "--url", hebi.cluster.url("ledger"),
            "--verify-keys", own,
        )  # fmt: skip
    assert provincial.run("verify", "--city", "hebi").exit_code == 0


def test_a_city_that_does_not_publish_is_refused_and_nothing_kept(
    provincial: Provincial,
) -> None:
    hebi = provincial.cities["hebi"]
    hebi.cluster.execute("CREATE DATABASE unpublished")
    env = {**hebi.env, "LEDGER_DATABASE_URL": hebi.cluster.url("unpublished")}
    Ledger(_settings(env).ledger_env()).close()  # a ledger, never published
    keys = CliRunner().invoke(main, ["verify-keys"], env=hebi.env).stdout.strip()
    result = provincial.run(
        "subscribe", "--city", "kaifeng", "--url", hebi.cluster.url("unpublished"),
        "--verify-keys", keys,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "kaifeng's database does not publish its ledger to the province" in result.output
    with provincial.api() as province:
        assert province.names() == ["anyang", "hebi", "xinxiang"]
    assert provincial.province.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE 'province_city_%' ORDER BY 1"
    ) == [("province_city_anyang",), ("province_city_hebi",), ("province_city_xinxiang",)]
    assert hebi.cluster.execute("SELECT slot_name FROM pg_replication_slots") == [
        ("province_hebi",)
    ]


def test_a_person_holding_exclusive_programmes_in_two_cities_is_a_conflict(
    provincial: Provincial,
) -> None:
    reference = PersonReferences(base64.b64decode(SHARED_PERSON_REF_KEY)).reference(
        IdentityNumber.parse(TWICE_HELD)
    )
    with provincial.api() as province:
        (conflict,) = province.conflicts(MONTH)
        assert province.conflicts(Month.parse("2024-01")) == []
    assert conflict.person_ref == reference
    assert sorted((h.city, h.programme) for h in conflict.holdings) == [
        ("anyang", "tekun"),
        ("hebi", "dibao-urban"),
    ]
    result = provincial.run("conflicts", "--as-of", str(MONTH))
    assert result.exit_code == 1
    assert reference[:16] in result.stdout
    # Before the person held either case (February), there is none.
    assert provincial.run("conflicts", "--as-of", "2024-01").exit_code == 0


def test_a_city_whose_references_are_keyed_apart_is_named_where_conflicts_are_listed(
    provincial: Provincial,
) -> None:
    xinxiang = provincial.cities["xinxiang"]
    city_database = postgres_conninfo(dict(xinxiang.ledger.env))

    def province_sees(check: str) -> Callable[[], bool]:
        def done() -> bool:
            with provincial.api() as province:
                status = province.status("xinxiang")
            return status.replication.reference_check == check

        return done

    other_key = reference_check(_key())
    publish(city_database, other_key)
    try:
        _wait_until("xinxiang's new reference key check", province_sees(other_key))
        result = provincial.run("conflicts", "--as-of", str(MONTH))
        assert (
            "the cities make person references with 2 keys (anyang, hebi | xinxiang)"
        ) in result.stderr
    finally:
        publish(city_database, reference_check(SHARED_PERSON_REF_KEY))
    _wait_until(
        "xinxiang's reference key check", province_sees(reference_check(SHARED_PERSON_REF_KEY))
    )
    assert "keys" not in provincial.run("conflicts", "--as-of", str(MONTH)).stderr


def test_an_offline_city_shows_its_last_position_and_catches_up_when_it_returns(
    provincial: Provincial, tmp_path: Path
) -> None:
    xinxiang = provincial.cities["xinxiang"]
    before = xinxiang.ledger.position
    log = (tmp_path / "follow.log").open("wb")
    follow = subprocess.Popen(
        [Path(sys.executable).with_name("ledger"), "province", "follow"],
        env={**os.environ, "LEDGER_PROVINCE_URL": provincial.url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        xinxiang.views.close()
        xinxiang.ledger.close()
        xinxiang.cluster.stop()
        with provincial.api() as province:
            _wait_until(
                "the province to see xinxiang offline",
                lambda: not province.status("xinxiang").replication.connected,
            )
        status = provincial.run("status")
        assert status.exit_code == 0, status.output
        rows = {line.split()[0]: line.split()[1:4] for line in status.stdout.splitlines() if line}
        # Its last event: March's close, on 31 March 2024 at 18:00 in the bureau's time zone.
        assert rows["xinxiang"] == [str(before), "offline", "2024-03-31T10:00:00+00:00"]
        assert rows["hebi"][1] == "current"
        totals = provincial.run("totals", "--as-of", str(MONTH))
        assert totals.exit_code == 0, totals.output
        assert any(
            line.split()[:3] == ["xinxiang", str(before), "offline"]
            for line in totals.stdout.splitlines()
        ), totals.stdout

        xinxiang.cluster.start()
        returned = _open_city_again(xinxiang)
        provincial.cities["xinxiang"] = returned
        returned.ledger.grant(
            "disability-living", returned.region, "2024-03", [returned.person(9)], grade=2,
            actor="cw-1", reason="certificate", uow=returned.when("2024-04-02 10:00"),
        )  # fmt: skip
        assert returned.ledger.position > before

        def followed() -> bool:  # projected by ledger province follow, not by this test
            with provincial.api() as province:
                status = province.status("xinxiang")
            return status.current and status.position == returned.ledger.position

        _wait_until("ledger province follow to project xinxiang's new events", followed)
    finally:
        follow.terminate()
        follow.wait(30)
        log.close()
    assert follow.returncode == -signal.SIGTERM, (tmp_path / "follow.log").read_text()
    assert _province_sums(provincial, MONTH) == _cities_own_sums(provincial, MONTH)


def test_follow_goes_on_after_the_province_database_restarts(
    provincial: Provincial, tmp_path: Path
) -> None:
    hebi = provincial.cities["hebi"]
    log_path = tmp_path / "follow.log"
    with log_path.open("wb") as log:
        follow = subprocess.Popen(
            [Path(sys.executable).with_name("ledger"), "province", "follow"],
            env={**os.environ, "LEDGER_PROVINCE_URL": provincial.url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until("follow to start", lambda: "following" in log_path.read_text())
            provincial.province.stop()
            _wait_until(
                "follow to say the province's database cannot be used",
                lambda: "cannot be used" in log_path.read_text(),
            )
            provincial.province.start()
            hebi.ledger.grant(
                "disability-living", hebi.region, "2024-03", [hebi.person(8)], grade=2,
                actor="cw-1", reason="certificate", uow=hebi.when("2024-04-03 10:00"),
            )  # fmt: skip

            def followed() -> bool:  # projected by ledger province follow
                with provincial.api() as province:
                    status = province.status("hebi")
                return status.current and status.position == hebi.ledger.position

            _wait_until("follow to project hebi's new events", followed)
            assert follow.poll() is None, log_path.read_text()
        finally:
            follow.terminate()
            follow.wait(30)
    assert _province_sums(provincial, MONTH) == _cities_own_sums(provincial, MONTH)


def _open_city_again(city: City) -> City:
    settings = _settings(city.env)
    ledger = Ledger({**settings.ledger_env(), **BEFORE_VERIFICATIONS})
    return City(
        city.name, city.region, city.serial, city.cluster, city.env, ledger,
        open_views(ledger.env),
    )  # fmt: skip


def test_the_verify_keys_given_must_be_a_json_object(provincial: Provincial) -> None:
    result = provincial.run(
        "subscribe", "--city", "hebi", "--url", "postgresql://x@127.0.0.1/ledger",
        "--verify-keys", json.dumps(["not", "an", "object"]),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "ledger verify-keys" in result.output


def test_a_city_is_published_only_from_a_server_with_logical_wal(tmp_path: Path) -> None:
    with cluster_folder("ledger-province-wal-") as root:
        cluster = Cluster.create(root, "replica_wal", {"wal_level": "replica"})
        try:
            cluster.start()
            city = _open_city("kaifeng", "410602", 500, cluster)
            try:
                result = CliRunner().invoke(main, ["province", "publish"], env=city.env)
            finally:
                city.views.close()
                city.ledger.close()
            assert result.exit_code == 1
            assert "logical replication needs wal_level = logical" in result.output
            assert cluster.execute("SELECT count(*) FROM pg_publication", "ledger") == [(0,)]
        finally:
            cluster.destroy()


def test_a_ledger_on_sqlite_is_not_published(tmp_path: Path) -> None:
    env = {
        "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db",
        "LEDGER_KEYS_FOLDER": str(tmp_path),
    }
    Ledger(_settings(env).ledger_env()).close()
    result = CliRunner().invoke(main, ["province", "publish"], env=env)
    assert result.exit_code == 1
    assert "only a ledger on PostgreSQL can be published" in result.output


def test_the_province_names_what_it_cannot_use(provincial: Provincial) -> None:
    unknown = provincial.run("verify", "--city", "zhengzhou")
    assert unknown.exit_code == 1
    assert "the province subscribes to no city 'zhengzhou'" in unknown.output
    assert "anyang, hebi, xinxiang" in unknown.output
    misnamed = provincial.run("verify", "--city", "Zheng-zhou")
    assert misnamed.exit_code == 2
    assert "a city's name is 1 to 40 lower-case letters" in misnamed.output
    closed_port = provincial.url.replace(f":{provincial.province.port}/", ":9/")
    unreachable = CliRunner().invoke(
        main, ["province", "status"], env={"LEDGER_PROVINCE_URL": closed_port}
    )
    assert unreachable.exit_code == 1
    assert "LEDGER_PROVINCE_URL: the province's database cannot be used" in unreachable.output

"""A ledger written before the code was grouped into rooms still loads, projects and verifies.

tests/fixtures/ledger-before-rooms.db.gz is an SQLite event store written by that code with
the development keys; its events name their classes by the old module paths
(``domain.case:Case.Granted``, ``domain.payroll:PayrollPeriods.PeriodClosed``, ...).
tests/fixtures/ledger-before-rooms.json holds what that code computed from it: the audit
chain's head, the position, the number of closed periods and the reconciliation rows.

Its events were stored before events were signed: it is adopted (``ledger adopt-signing``)
at the chain head that code recorded, and every event after that must be signed.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from api.cli import main
from api.core.bootstrap import Runtime, opened
from api.core.settings import Settings
from domain.application.import_progress import ImportProgress
from domain.application.ledger import Ledger
from domain.cases.case import Case
from domain.payroll_periods import PayrollPeriods
from domain.people.identity import IdentityNumber
from domain.people.index import PersonIndex
from domain.relief import Relief
from domain.standards import StandardSchedule
from projections.reads import audit_chain
from projections.reads.checkpointing import AdoptionRefusedError, adopt
from projections.reads.period_accounts import Accounts, reconcile
from projections.storage.signing import EventSignatures, UnverifiedEventError, signatures_of
from tests.integration.event_tables import SQLiteFile
from tests.support import public_development_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED: dict[str, Any] = json.loads(
    (FIXTURES / "ledger-before-rooms.json").read_text(encoding="utf-8")
)
RECORDED_HEAD = audit_chain.Head.parse(RECORDED["head"])

# The module an aggregate's first event named before the rooms, and its class now.
AGGREGATE_CLASSES: dict[str, type[Aggregate]] = {
    "domain.case": Case,
    "domain.person_index": PersonIndex,
    "domain.payroll": PayrollPeriods,
    "domain.relief": Relief,
    "domain.standards": StandardSchedule,
    "domain.import_progress": ImportProgress,
}


def unzip_old_ledger(folder: Path) -> Settings:
    """The fixture unzipped into ``folder``; settings with the development keys."""
    path = folder / "ledger.db"
    with gzip.open(FIXTURES / "ledger-before-rooms.db.gz") as packed, path.open("wb") as file:
        shutil.copyfileobj(packed, file)
    return Settings(
        database_url=f"sqlite:///{path}",
        environment="development",
        # The public development keys it was written with, before keys were per installation.
        personal_data_key=public_development_key("personal data"),
        person_ref_key=public_development_key("person references"),
        jwt_secret=public_development_key("token signing"),
        region_catalogue=None,
    )


def open_old_ledger(folder: Path) -> Iterator[Runtime]:
    """The fixture, adopted at its recorded head, and projected."""
    with opened(unzip_old_ledger(folder)) as runtime:
        adopt(runtime.ledger.recorder, signatures(runtime), RECORDED_HEAD)
        runtime.projector.catch_up()
        yield runtime


def signatures(runtime: Runtime) -> EventSignatures:
    found = signatures_of(runtime.ledger.mapper)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def old_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """Shared by the tests that only read."""
    yield from open_old_ledger(tmp_path_factory.mktemp("before-rooms"))


@pytest.fixture
def old_ledger_to_change(tmp_path: Path) -> Iterator[Runtime]:
    yield from open_old_ledger(tmp_path)


def aggregates_by_old_module(ledger: Ledger) -> dict[str, dict[UUID, int]]:
    """Every aggregate's id and event count, under the module its first event names."""
    counts: Counter[UUID] = Counter()
    modules: dict[UUID, str] = {}
    for notification in ledger.recorder.select_notifications(start=1, limit=ledger.position):
        originator = UUID(str(notification.originator_id))
        counts[originator] += 1
        if notification.originator_version == 1:
            modules[originator] = notification.topic.partition(":")[0]
    found: dict[str, dict[UUID, int]] = {}
    for originator, module in modules.items():
        found.setdefault(module, {})[originator] = counts[originator]
    return found


def test_the_old_ledger_projects_to_the_chain_head_recorded_before_the_rooms(
    old_ledger: Runtime,
) -> None:
    recorded_head = RECORDED_HEAD
    result = audit_chain.verify(
        old_ledger.ledger.recorder, old_ledger.ledger.mapper, old_ledger.views, recorded_head
    )
    assert result.ok, result.explanation
    assert str(result.head) == RECORDED["head"]
    assert old_ledger.read_side.position == RECORDED["position"] == old_ledger.ledger.position


def test_every_old_period_matches_its_digest_and_every_closed_month_balances(
    old_ledger: Runtime,
) -> None:
    position = old_ledger.read_side.position
    accounts = Accounts(old_ledger.views)
    periods = accounts.periods(position)
    assert len(periods) == RECORDED["periods"]
    assert [p for p in periods if not p.digest_matches] == []
    months = accounts.closed_months(position)
    assert len(months) == RECORDED["periods"]
    assert [m for m in months if not m.balances] == []


def test_the_old_ledger_reconciles_to_the_rows_computed_before_the_rooms(
    old_ledger: Runtime,
) -> None:
    accounts = Accounts(old_ledger.views).closed_months(old_ledger.read_side.position)
    rows = [
        (r.programme, r.year, r.entitled, r.paid, r.arrears, r.recoveries, r.outstanding)
        for r in reconcile(accounts)
    ]
    recorded = [
        (programme, year, *(Decimal(amount) for amount in amounts))
        for programme, year, *amounts in RECORDED["reconciliation"]
    ]
    assert rows == recorded


def test_every_old_aggregate_loads_through_the_ledger_as_its_class_at_its_new_path(
    old_ledger: Runtime,
) -> None:
    ledger = old_ledger.ledger
    found = aggregates_by_old_module(ledger)
    assert set(found) == set(AGGREGATE_CLASSES)
    for module, versions in found.items():
        for aggregate_id, events in versions.items():
            aggregate: Aggregate = ledger.repository.get(aggregate_id)
            assert type(aggregate) is AGGREGATE_CLASSES[module]
            assert aggregate.version == events


def test_old_cases_reliefs_standards_and_periods_read_as_they_were_written(
    old_ledger: Runtime,
) -> None:
    ledger = old_ledger.ledger
    found = aggregates_by_old_module(ledger)
    for case_id in list(found["domain.case"])[:20]:
        case = ledger.case(case_id)
        for person in case.persons:  # decrypted and keyed with the development keys
            number = IdentityNumber.parse(person["identity_number"].reveal())
            assert ledger.references.reference(number) == person["reference"]
            index: PersonIndex = ledger.repository.get(PersonIndex.id_for(person["reference"]))
            assert case_id in index.holdings
        assert ledger.monthly_amount(case_id, case.granted_from) >= 0
    for relief_id in list(found["domain.relief"])[:20]:
        assert ledger.relief(relief_id).id == relief_id
    for schedule_id in found["domain.standards"]:
        schedule: StandardSchedule = ledger.repository.get(schedule_id)
        assert schedule_id == StandardSchedule.id_for(schedule.programme, schedule.region)
        first = schedule.months[0]
        in_force = ledger.standards_in_force(schedule.programme, schedule.region, first)
        assert in_force == schedule.entries[first]
    closed = 0
    for periods_id, events in found["domain.payroll"].items():
        periods: PayrollPeriods = ledger.repository.get(periods_id)
        assert periods_id == PayrollPeriods.id_for(periods.programme, periods.region)
        assert periods.last_closed is not None
        closed += events - 1  # one Opened, then one PeriodClosed per month
    assert closed == RECORDED["periods"]


def test_a_new_decision_on_an_old_case_is_recorded_projected_and_verified(
    old_ledger_to_change: Runtime,
) -> None:
    runtime = old_ledger_to_change
    ledger = runtime.ledger
    open_cases = [
        case
        for case in map(ledger.case, aggregates_by_old_module(ledger)["domain.case"])
        if case.closed_from is None and not case.rescinded
    ]
    case = open_cases[0]
    last_effective = max(decision.effective for decision in case.decisions)
    exit_month = last_effective + 1
    before = ledger.position

    receipt = ledger.exit(case.id, exit_month, actor="caseworker", reason="moved away")

    exited = ledger.case(case.id)
    assert exited.version == case.version + 1
    assert exited.closed_from == exit_month
    assert ledger.monthly_amount(case.id, exit_month) == 0
    assert receipt.position > before
    runtime.projector.catch_up()
    assert runtime.read_side.position == ledger.position
    new_topics = {
        n.topic
        for n in ledger.recorder.select_notifications(start=before + 1, limit=ledger.position)
    }
    assert "domain.cases.case:Case.Exited" in new_topics
    result = audit_chain.verify(ledger.recorder, ledger.mapper, runtime.views)
    assert result.ok, result.explanation
    assert result.unsigned == RECORDED["position"]
    assert result.keys == ("development",)
    accounts = Accounts(runtime.views)
    assert all(p.digest_matches for p in accounts.periods(ledger.position))
    assert all(m.balances for m in accounts.closed_months(ledger.position))


def test_the_old_ledger_is_refused_as_unsigned_until_it_is_adopted(tmp_path: Path) -> None:
    with opened(unzip_old_ledger(tmp_path)) as runtime:
        ledger = runtime.ledger
        first = ledger.recorder.select_notifications(start=1, limit=1)[0]
        with pytest.raises(UnverifiedEventError, match="at position 1 does not verify"):
            ledger.repository.get(UUID(str(first.originator_id)))
        result = audit_chain.verify(ledger.recorder, ledger.mapper, runtime.views)
        assert (result.first_difference, result.explanation) == (
            1,
            "the event at position 1: it is not signed",
        )


def test_adoption_needs_the_head_recorded_before_and_is_made_once(tmp_path: Path) -> None:
    with opened(unzip_old_ledger(tmp_path)) as runtime:
        recorder = runtime.ledger.recorder
        earlier = audit_chain.Head(RECORDED_HEAD.position - 1, RECORDED_HEAD.hash)
        with pytest.raises(AdoptionRefusedError, match="the ledger changed since"):
            adopt(recorder, signatures(runtime), earlier)
        adopted = adopt(recorder, signatures(runtime), RECORDED_HEAD)
        assert (adopted.position, adopted.head, adopted.adoption) == (
            RECORDED_HEAD.position,
            RECORDED_HEAD.hash,
            True,
        )
        with pytest.raises(AdoptionRefusedError, match="adopted already"):
            adopt(recorder, signatures(runtime), RECORDED_HEAD)


def test_an_unsigned_event_after_the_adopted_head_is_refused(tmp_path: Path) -> None:
    with opened(unzip_old_ledger(tmp_path)) as runtime:
        ledger = runtime.ledger
        adopt(ledger.recorder, signatures(runtime), RECORDED_HEAD)
        old = SQLiteFile(Path(ledger.env["SQLITE_DBNAME"]))
        copied = old.row(RECORDED_HEAD.position)
        appended = old.insert(
            None,
            StoredEvent(
                copied.originator_id, copied.originator_version + 1, copied.topic, copied.state
            ),
        )
        with pytest.raises(UnverifiedEventError, match="only the events up to position 7189"):
            ledger.repository.get(UUID(str(copied.originator_id)))
        with pytest.raises(UnverifiedEventError, match=f"at position {appended}"):
            runtime.projector.catch_up()
        assert runtime.read_side.position == RECORDED_HEAD.position
        result = audit_chain.verify(ledger.recorder, ledger.mapper, runtime.views)
        assert result.first_difference == appended
        assert result.explanation == (
            f"the event at position {appended}: it is not signed, and only the events up to "
            "position 7189 were adopted unsigned"
        )


def test_adopt_signing_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unzip_old_ledger(tmp_path)
    monkeypatch.setenv("LEDGER_DATABASE_URL", settings.database_url)
    for variable, purpose in (
        ("LEDGER_PERSONAL_DATA_KEY", "personal data"),
        ("LEDGER_PERSON_REF_KEY", "person references"),
        ("LEDGER_JWT_SECRET", "token signing"),
    ):
        monkeypatch.setenv(variable, public_development_key(purpose))
    runner = CliRunner()
    wrong = f"{RECORDED_HEAD.position}:{'0' * 64}"
    refused = runner.invoke(main, ["adopt-signing", "--expected-head", wrong])
    assert refused.exit_code == 1
    assert "the ledger changed since that head was recorded" in refused.output
    adopted = runner.invoke(main, ["adopt-signing", "--expected-head", RECORDED["head"]])
    assert adopted.exit_code == 0, adopted.output
    assert json.loads(adopted.stdout.splitlines()[0])["adoption"] is True
    verified = runner.invoke(main, ["verify", "--full"])
    assert verified.exit_code == 0, verified.output
    assert "7189 events: 0 signed (keys: none), 7189 adopted unsigned" in verified.output
    again = runner.invoke(main, ["verify"])
    assert again.exit_code == 0, again.output
    assert "7189 events: the signatures up to position 7189 checked before" in again.output

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
from eventsourcing.domain import Aggregate

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
from projections.reads.checkpointing import adopt
from projections.reads.period_accounts import Accounts, reconcile
from projections.storage.signing import signatures_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED: dict[str, Any] = json.loads(
    (FIXTURES / "ledger-before-rooms.json").read_text(encoding="utf-8")
)

# The module an aggregate's first event named before the rooms, and its class now.
AGGREGATE_CLASSES: dict[str, type[Aggregate]] = {
    "domain.case": Case,
    "domain.person_index": PersonIndex,
    "domain.payroll": PayrollPeriods,
    "domain.relief": Relief,
    "domain.standards": StandardSchedule,
    "domain.import_progress": ImportProgress,
}


def open_old_ledger(folder: Path) -> Iterator[Runtime]:
    """The fixture unzipped into ``folder``, opened with the development keys, projected."""
    path = folder / "ledger.db"
    with gzip.open(FIXTURES / "ledger-before-rooms.db.gz") as packed, path.open("wb") as file:
        shutil.copyfileobj(packed, file)
    settings = Settings(
        database_url=f"sqlite:///{path}",
        environment="development",
        personal_data_key=None,  # the development keys it was written with
        person_ref_key=None,
        region_catalogue=None,
    )
    with opened(settings) as runtime:
        signatures = signatures_of(runtime.ledger.mapper)
        assert signatures is not None
        adopt(runtime.ledger.recorder, signatures, audit_chain.Head.parse(RECORDED["head"]))
        runtime.projector.catch_up()
        yield runtime


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
    recorded_head = audit_chain.Head.parse(RECORDED["head"])
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

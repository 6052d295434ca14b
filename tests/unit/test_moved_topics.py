"""Topics stored before the rooms resolve to the classes at their new paths."""

from __future__ import annotations

from importlib.util import find_spec

from eventsourcing.utils import resolve_topic

from domain.application.idempotency import IdempotencyRecord
from domain.application.import_progress import ImportProgress
from domain.application.moved_topics import register_moved_modules
from domain.cases.case import Case
from domain.payroll_periods import PayrollPeriods
from domain.people.index import PersonIndex
from domain.relief import Relief
from domain.standards import StandardSchedule

# As ledgers written before the rooms store them: the aggregate's class in its first event,
# and each event's class.
OLD_TOPICS: dict[str, type] = {
    "domain.case:Case": Case,
    "domain.case:Case.Granted": Case.Granted,
    "domain.case:Case.Reassessed": Case.Reassessed,
    "domain.case:Case.Exited": Case.Exited,
    "domain.person_index:PersonIndex": PersonIndex,
    "domain.person_index:PersonIndex.Started": PersonIndex.Started,
    "domain.person_index:PersonIndex.HoldingOpened": PersonIndex.HoldingOpened,
    "domain.payroll:PayrollPeriods": PayrollPeriods,
    "domain.payroll:PayrollPeriods.Opened": PayrollPeriods.Opened,
    "domain.payroll:PayrollPeriods.PeriodClosed": PayrollPeriods.PeriodClosed,
    "domain.idempotency:IdempotencyRecord": IdempotencyRecord,
    "domain.idempotency:IdempotencyRecord.Answered": IdempotencyRecord.Answered,
    "domain.import_progress:ImportProgress": ImportProgress,
    "domain.import_progress:ImportProgress.Advanced": ImportProgress.Advanced,
    "domain.relief:Relief.ReliefGranted": Relief.ReliefGranted,
    "domain.standards:StandardSchedule.StandardSet": StandardSchedule.StandardSet,
}


def test_the_old_modules_are_gone_so_only_the_registration_resolves_their_topics() -> None:
    moved = [
        "domain.case",
        "domain.person_index",
        "domain.payroll",
        "domain.idempotency",
        "domain.import_progress",
    ]
    assert [module for module in moved if find_spec(module) is not None] == []


def test_each_old_topic_resolves_to_the_class_at_its_new_path() -> None:
    register_moved_modules()
    register_moved_modules()  # registering twice is harmless: the Ledger does it on import
    assert {topic: resolve_topic(topic) for topic in OLD_TOPICS} == OLD_TOPICS

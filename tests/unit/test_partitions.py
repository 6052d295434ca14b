"""Where each event is projected when the replay is shared out by (programme, region)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from domain.application.ledger import Ledger
from domain.application.recording import SaveAt
from domain.cases.case import Case
from domain.people.index import PersonIndex
from domain.standards import StandardSchedule
from domain.verification.household_verification import HouseholdVerification
from projections.engine.partitions import (
    UNCASED_VERIFICATIONS,
    Partition,
    Placement,
    UnplacedEventError,
)
from projections.storage.event_table import EventTable, StoredRow
from projections.storage.signing import decoded_unchecked
from tests.support import (
    HESHAN,
    QIBIN,
    at,
    grant_reference_household,
    memory_ledger,
    person,
    set_reference_standards,
    verified_household,
)

DIBAO = Partition("dibao-urban", QIBIN)
TEKUN = Partition("tekun", QIBIN)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    ledger = memory_ledger(verifications_required=True)
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    set_reference_standards(ledger, HESHAN, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    yield ledger
    ledger.close()


def stored_rows(ledger: Ledger) -> list[StoredRow]:
    return EventTable.of(ledger.recorder).rows(1, 10_000)


def placed_by_topic(ledger: Ledger) -> dict[str, set[tuple[Partition, ...]]]:
    placement = Placement(lambda row: decoded_unchecked(ledger.mapper, row))
    found: dict[str, set[tuple[Partition, ...]]] = {}
    for row in stored_rows(ledger):
        found.setdefault(row.topic, set()).add(placement.place(row))
    return found


def topic(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def test_a_case_and_its_decisions_go_to_its_programme_and_region_and_its_people_nowhere(
    ledger: Ledger,
) -> None:
    case = grant_reference_household(ledger)
    ledger.suspend(
        case, "2020-06", actor="cw", reason="away", uow=SaveAt(ledger, at("2020-05-02 09:00"))
    )
    placed = placed_by_topic(ledger)
    assert placed[topic(Case.Granted)] == {(DIBAO,)}
    assert placed[topic(Case.Suspended)] == {(DIBAO,)}
    assert placed[topic(PersonIndex.Started)] == {()}
    assert placed[topic(PersonIndex.HoldingOpened)] == {()}


def test_a_dibao_standard_goes_to_the_tekun_partition_of_its_region_too(ledger: Ledger) -> None:
    placed = placed_by_topic(ledger)
    assert (DIBAO, TEKUN) in placed[topic(StandardSchedule.StandardSet)]
    assert (Partition("dibao-rural", HESHAN), Partition("tekun", HESHAN)) in placed[
        topic(StandardSchedule.StandardSet)
    ]
    assert (TEKUN,) in placed[topic(StandardSchedule.StandardSet)]
    assert (Partition("orphan", QIBIN),) in placed[topic(StandardSchedule.StandardSet)]


def test_a_verification_of_a_case_follows_it_and_one_of_no_case_goes_to_a_bucket_of_its_own(
    ledger: Ledger,
) -> None:
    case = grant_reference_household(ledger)  # cites a verification made before the case
    household = [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)]
    verified_household(ledger, [*household, person(date(2010, 3, 3), 3)], case_id=case)
    placed = placed_by_topic(ledger)
    of_case, uncased = sorted(placed[topic(HouseholdVerification.Requested)])
    assert of_case == (DIBAO,)
    assert [p.programme for p in uncased] == [UNCASED_VERIFICATIONS]
    assert placed[topic(HouseholdVerification.Verified)] == {uncased, of_case}


def test_an_event_whose_aggregate_began_before_the_events_placed_stops_the_placing(
    ledger: Ledger,
) -> None:
    case = grant_reference_household(ledger)
    later_on = SaveAt(ledger, at("2020-05-02 09:00"))
    ledger.suspend(case, "2020-06", actor="cw", reason="away", uow=later_on)
    placement = Placement(lambda row: decoded_unchecked(ledger.mapper, row))
    (later,) = [row for row in stored_rows(ledger) if row.topic == topic(Case.Suspended)]
    with pytest.raises(UnplacedEventError) as refusal:
        placement.place(later)
    assert f"the event at position {later.position}" in str(refusal.value)
    assert "no earlier event began its aggregate" in str(refusal.value)

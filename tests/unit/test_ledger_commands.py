"""The command side in memory: reference cases, refusals that store nothing, four eyes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from api.core.settings import Settings
from domain.application import recording
from domain.application.ledger import Ledger
from domain.application.recording import ImportBatch, SaveAt, UnitOfWork
from domain.errors import (
    CaseStateError,
    ExclusiveHoldingError,
    FourEyesError,
    IncomeAboveStandardError,
    InvalidIdentityNumberError,
    InvalidInputError,
    NotEligibleError,
    RecordTimeError,
    UnknownRegionError,
)
from domain.months import Month
from domain.people.person import PersonInput
from domain.relief import Relief
from tests.support import QIBIN, identity_number, memory_ledger, person, set_reference_standards


@pytest.fixture
def ledger() -> Ledger:
    ledger = memory_ledger()
    set_reference_standards(ledger)
    return ledger


def amounts(ledger: Ledger, case_id: object, *months: str) -> list[str]:
    return [str(ledger.monthly_amount(case_id, m)) for m in months]  # type: ignore[arg-type]


def test_reference_case_2_gradual_exit_pays_the_last_amount_for_six_months(ledger: Ledger) -> None:
    household = [
        person(date(1980, 1, 1), 1),
        person(date(1982, 2, 2), 2),
        person(date(2010, 3, 3), 3),
    ]
    case = ledger.grant(
        "dibao-urban", QIBIN, "2020-03", household, income="200", actor="cw-1", reason="applied"
    ).id
    ledger.set_standard("dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="n")
    ledger.reassess(case, "2021-01", {"income": "700"}, actor="cw-1", reason="new job")
    ledger.start_gradual_exit(case, "2021-01", 6, actor="cw-1", reason="income above standard")
    assert amounts(ledger, case, "2020-03", "2020-07", "2021-01", "2021-06", "2021-07") == [
        "1200.00",
        "1350.00",
        "1350.00",
        "1350.00",
        "0.00",
    ]


def test_reference_case_3_elderly_allowance_bands(ledger: Ledger) -> None:
    case = ledger.grant(
        "elderly-allowance", QIBIN, "2019-01", [person(date(1932, 5, 15))], actor="cw", reason="80+"
    ).id
    assert amounts(ledger, case, "2022-05", "2022-06") == ["100.00", "200.00"]


def test_reference_case_5_relief_above_the_cap_waits_for_a_second_approver(ledger: Ledger) -> None:
    def relief(amount: str) -> Relief:
        receipt = ledger.grant_relief(
            QIBIN,
            "urban",
            "emergency",
            date(2020, 5, 1),
            2,
            amount,
            person(date(1970, 1, 1)),
            actor="cw-1",
            reason="house fire",
        )
        return ledger.relief(receipt.id)

    at_cap, above_cap = relief("7200.00"), relief("7200.01")
    assert (at_cap.cap, at_cap.granted) == (Decimal("7200.00"), True)
    assert (above_cap.cap, above_cap.granted) == (Decimal("7200.00"), False)
    position = ledger.position
    with pytest.raises(FourEyesError, match="someone other than its requester"):
        ledger.approve_relief(above_cap.id, actor="cw-1", reason="urgent")
    assert ledger.position == position
    ledger.approve_relief(above_cap.id, actor="approver-1", reason="checked")
    assert ledger.relief(above_cap.id).granted


def test_reference_case_6_a_wrong_check_character_is_refused_and_nothing_stored(
    ledger: Ledger,
) -> None:
    good = identity_number(date(1950, 1, 1))
    wrong = good[:17] + ("1" if good[17] == "0" else "0")
    position = ledger.position
    with pytest.raises(InvalidIdentityNumberError):
        ledger.grant(
            "disability-living",
            QIBIN,
            "2020-01",
            [PersonInput(wrong, "李四")],
            grade=2,
            actor="cw",
            reason="x",
        )
    assert ledger.position == position


def test_an_elderly_grant_before_the_80th_birthday_month_is_refused(ledger: Ledger) -> None:
    with pytest.raises(NotEligibleError, match="starts from 2020-06"):
        ledger.grant(
            "elderly-allowance",
            QIBIN,
            "2020-05",
            [person(date(1940, 5, 15))],
            actor="cw",
            reason="x",
        )


def test_an_orphan_grant_after_the_18th_birthday_month_is_refused(ledger: Ledger) -> None:
    with pytest.raises(NotEligibleError, match="paid through 2020-04"):
        ledger.grant(
            "orphan",
            QIBIN,
            "2020-05",
            [person(date(2002, 4, 30))],
            care="dispersed",
            actor="cw",
            reason="x",
        )


def test_a_dibao_grant_at_or_above_the_standard_is_refused(ledger: Ledger) -> None:
    with pytest.raises(IncomeAboveStandardError, match="at or above"):
        ledger.grant(
            "dibao-urban",
            QIBIN,
            "2020-01",
            [person(date(1980, 1, 1))],
            income="600",
            actor="cw",
            reason="x",
        )


def test_a_person_holds_one_case_per_programme_and_dibao_excludes_tekun(ledger: Ledger) -> None:
    member = person(date(1960, 1, 1), 7)
    case = ledger.grant(
        "dibao-rural",
        QIBIN,
        "2020-01",
        [person(date(1961, 1, 1), 8), member],
        income="100",
        actor="cw",
        reason="x",
    ).id
    position = ledger.position
    with pytest.raises(ExclusiveHoldingError, match="already holds dibao-rural"):
        ledger.grant("dibao-urban", QIBIN, "2020-06", [member], income="1", actor="cw", reason="x")
    with pytest.raises(ExclusiveHoldingError, match="excludes tekun"):
        ledger.grant(
            "tekun", QIBIN, "2020-06", [member], area="rural", tier="self", actor="cw", reason="x"
        )
    assert ledger.position == position
    ledger.exit(case, "2020-06", actor="cw", reason="moved to tekun")
    ledger.grant(
        "tekun", QIBIN, "2020-06", [member], area="rural", tier="self", actor="cw", reason="x"
    )


def test_an_orphan_may_get_tekun_from_the_month_after_the_18th_birthday(ledger: Ledger) -> None:
    orphan = person(date(2002, 4, 30))
    ledger.grant("orphan", QIBIN, "2019-01", [orphan], care="institutional", actor="cw", reason="x")
    with pytest.raises(ExclusiveHoldingError):
        ledger.grant(
            "tekun", QIBIN, "2020-04", [orphan], area="urban", tier="full", actor="cw", reason="x"
        )
    ledger.grant(
        "tekun", QIBIN, "2020-05", [orphan], area="urban", tier="full", actor="cw", reason="x"
    )


def test_a_rescinded_case_frees_the_person_and_takes_no_further_decision(ledger: Ledger) -> None:
    someone = person(date(1955, 5, 5))
    case = ledger.grant(
        "disability-living", QIBIN, "2019-04", [someone], grade=1, actor="cw-1", reason="x"
    ).id
    ledger.request_rescission(case, actor="cw-1", reason="forged certificate")
    with pytest.raises(FourEyesError):
        ledger.approve_rescission(case, actor="cw-1", reason="self")
    ledger.approve_rescission(case, actor="approver-1", reason="confirmed")
    assert amounts(ledger, case, "2019-04", "2019-08") == ["0.00", "0.00"]
    with pytest.raises(CaseStateError, match="rescinded"):
        ledger.suspend(case, "2019-09", actor="cw-1", reason="x")
    ledger.grant("disability-living", QIBIN, "2019-10", [someone], grade=1, actor="cw", reason="x")


def test_suspension_backdated_exit_and_decisions_after_the_exit(ledger: Ledger) -> None:
    case = ledger.grant(
        "disability-nursing",
        QIBIN,
        "2020-01",
        [person(date(1970, 1, 1))],
        grade=2,
        actor="cw",
        reason="x",
    ).id
    ledger.suspend(case, "2020-03", actor="cw", reason="in hospital")
    with pytest.raises(CaseStateError, match="already suspended"):
        ledger.suspend(case, "2020-04", actor="cw", reason="x")
    ledger.resume(case, "2020-05", actor="cw", reason="back home")
    ledger.suspend(case, "2020-08", actor="cw", reason="x")
    ledger.exit(case, "2020-06", actor="cw", reason="died in May")
    assert amounts(ledger, case, "2020-02", "2020-03", "2020-05", "2020-06") == [
        "300.00",
        "0.00",
        "300.00",
        "0.00",
    ]
    with pytest.raises(CaseStateError, match="closed from 2020-06"):
        ledger.resume(case, "2020-09", actor="cw", reason="x")
    with pytest.raises(CaseStateError, match="before the case is granted"):
        ledger.suspend(case, "2019-12", actor="cw", reason="x")


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"region": "999999"}, UnknownRegionError, "region"),
        ({"programme": "lottery"}, InvalidInputError, "programme"),
        ({"effective": "2020-13"}, InvalidInputError, "effective"),
        ({"effective": "2999-01"}, InvalidInputError, "effective"),
        ({"income": "12.345"}, InvalidInputError, "income"),
        ({"income": "-1"}, InvalidInputError, "income"),
        ({"persons": []}, InvalidInputError, "persons"),
    ],
)
def test_bad_grants_are_refused_naming_the_field_and_store_nothing(
    ledger: Ledger, kwargs: dict[str, object], error: type[Exception], field: str
) -> None:
    request: dict[str, object] = {
        "programme": "dibao-urban",
        "region": QIBIN,
        "effective": "2020-01",
        "persons": [person(date(1980, 1, 1))],
        "income": "100",
    }
    request.update(kwargs)
    position = ledger.position
    with pytest.raises(error) as refusal:
        ledger.grant(actor="cw", reason="x", **request)  # type: ignore[arg-type]
    assert getattr(refusal.value, "field", None) == field
    assert ledger.position == position


def test_imported_decisions_keep_their_time_which_never_goes_back(ledger: Ledger) -> None:
    earlier = datetime(2019, 3, 1, tzinfo=UTC)
    with pytest.raises(RecordTimeError, match="earlier than the latest stored"):
        ImportBatch(ledger).at(earlier)
    with pytest.raises(RecordTimeError, match="earlier than the latest stored"):
        SaveAt(ledger, earlier)
    fresh = memory_ledger()
    uow = SaveAt(fresh, datetime(2019, 1, 2, tzinfo=UTC))
    receipt = fresh.set_standard(
        "disability-living", QIBIN, "2019-01", {"standard": "500"}, actor="f", reason="n", uow=uow
    )
    assert fresh.latest_recorded_time() == datetime(2019, 1, 2, tzinfo=UTC)
    assert receipt.position == fresh.position
    with pytest.raises(InvalidInputError, match="no later than 2019-02"):
        fresh.grant(
            "disability-living",
            QIBIN,
            "2019-03",
            [person(date(1970, 1, 1))],
            grade=1,
            actor="cw",
            reason="x",
            uow=SaveAt(fresh, datetime(2019, 1, 3, tzinfo=UTC)),
        )


def test_an_import_batch_saves_its_decisions_together_when_flushed(ledger: Ledger) -> None:
    position = ledger.position
    july = datetime(2030, 7, 1, tzinfo=UTC)
    with ImportBatch(ledger) as batch:
        raised = ledger.set_standard(
            "disability-living",
            QIBIN,
            "2030-07",
            {"standard": "800"},
            actor="f",
            reason="n",
            uow=batch.at(july),
        )
        granted = ledger.grant(
            "disability-living",
            QIBIN,
            "2030-07",
            [person(date(1970, 1, 1))],
            grade=1,
            actor="cw",
            reason="x",
            uow=batch.at(july),
        )
        # Nothing is stored yet, and a later decision of the batch may not go back in time.
        assert (raised.position, granted.position, ledger.position) == (0, 0, position)
        with pytest.raises(RecordTimeError, match="earlier than the latest stored"):
            batch.at(datetime(2030, 6, 30, tzinfo=UTC))
    assert ledger.position == position + 4  # the raise, the grant, and the person index's two
    assert ledger.monthly_amount(granted.id, "2030-07") == Decimal("800.00")


def test_an_import_batch_drops_the_least_recently_used_aggregates_and_reads_them_again(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "MAX_IMPORT_AGGREGATES", 2)
    july = datetime(2030, 7, 1, tzinfo=UTC)
    with ImportBatch(ledger) as batch:
        first, second = (
            ledger.grant(
                "disability-living",
                QIBIN,
                "2030-07",
                [person(date(1970, 1, 1), n)],
                grade=1,
                actor="cw",
                reason="x",
                uow=batch.at(july),
            ).id
            for n in (1, 2)
        )
        batch.flush()
        # Once saved, the first case is dropped for the later ones; the second stays.
        assert first not in batch.aggregates
        assert second in batch.aggregates
        ledger.suspend(first, "2030-08", actor="cw", reason="moved", uow=batch.at(july))
        assert list(batch.aggregates)[-1] == first  # read again, and now the most recent
    assert ledger.monthly_amount(first, "2030-08") == Decimal("0.00")
    assert ledger.monthly_amount(second, "2030-08") == Decimal("500.00")


def test_a_person_an_import_looked_for_before_it_knew_them_is_found_once_dropped(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "MAX_IMPORT_AGGREGATES", 0)
    july = datetime(2030, 7, 1, tzinfo=UTC)

    def grant(uow: UnitOfWork) -> None:
        ledger.grant(
            "disability-living",
            QIBIN,
            "2030-07",
            [person(date(1970, 1, 1))],
            grade=1,
            actor="cw",
            reason="x",
            uow=uow,
        )

    with ImportBatch(ledger) as batch:
        grant(batch.at(july))  # looks the person up, finds no one, and indexes them
        batch.flush()
        assert not batch.aggregates
        with pytest.raises(ExclusiveHoldingError):
            grant(batch.at(july))


def test_a_close_computed_after_another_close_or_before_the_last_is_refused(
    ledger: Ledger,
) -> None:
    computed_at = ledger.position
    ledger.close_period(
        "disability-living", QIBIN, "2020-03", computed_at, [], previous=None, actor="f"
    )
    march = Month.parse("2020-03")
    with pytest.raises(CaseStateError, match="computed after no close, but"):
        ledger.close_period(
            "disability-living", QIBIN, "2020-04", ledger.position, [], previous=None, actor="f"
        )
    with pytest.raises(CaseStateError, match="before the previous close"):
        ledger.close_period(
            "disability-living", QIBIN, "2020-04", computed_at - 1, [], previous=march, actor="f"
        )
    ledger.close_period(
        "disability-living", QIBIN, "2020-04", ledger.position, [], previous=march, actor="f"
    )


def test_emergency_relief_is_reviewed_once_and_a_rescinded_one_is_to_recover(
    ledger: Ledger,
) -> None:
    relief_id = ledger.grant_relief(
        QIBIN,
        "rural",
        "emergency",
        date(2020, 5, 1),
        1,
        "500",
        person(date(1970, 1, 1)),
        actor="cw",
        reason="flood",
    ).id
    assert ledger.relief(relief_id).is_review_overdue(date(2020, 5, 31)) is False
    assert ledger.relief(relief_id).is_review_overdue(date(2020, 6, 1)) is True
    ledger.review_relief(relief_id, "rescinded", actor="approver", reason="not affected")
    assert ledger.relief(relief_id).to_recover == Decimal("500.00")
    with pytest.raises(CaseStateError, match="already reviewed"):
        ledger.review_relief(relief_id, "confirmed", actor="approver", reason="x")


@pytest.mark.parametrize(
    "setting", [{"AGGREGATE_CACHE_MAXSIZE": "100"}, {"IS_SNAPSHOTTING_ENABLED": "y"}]
)
def test_the_ledger_refuses_an_aggregate_cache_or_snapshots(setting: dict[str, str]) -> None:
    env = Settings(database_url="memory:").ledger_env()
    with pytest.raises(ValueError, match="no snapshots and no aggregate cache"):
        Ledger({**env, **setting})


def test_a_refused_person_of_a_household_is_named_by_its_place_in_the_list(
    ledger: Ledger,
) -> None:
    good = person(date(1980, 1, 1), 1)
    bad = PersonInput(identity_number(date(1982, 2, 2), 2)[:17] + "Y", "李四")
    with pytest.raises(InvalidIdentityNumberError) as wrong:
        ledger.grant(
            "dibao-urban", QIBIN, "2020-03", [good, bad], income="1", actor="cw", reason="x"
        )
    assert wrong.value.field == "persons[1].identity_number"
    with pytest.raises(InvalidInputError, match="persons 1 and 3 are the same person") as twice:
        ledger.grant(
            "dibao-urban",
            QIBIN,
            "2020-03",
            [good, person(date(1982, 2, 2), 2), good],
            income="1",
            actor="cw",
            reason="x",
        )
    assert twice.value.field == "persons[2].identity_number"


def test_a_refused_reassessment_names_the_change_at_fault(ledger: Ledger) -> None:
    case = ledger.grant(
        "tekun",
        QIBIN,
        "2020-01",
        [person(date(1950, 1, 1))],
        area="urban",
        tier="self",
        actor="cw",
        reason="x",
    ).id
    with pytest.raises(InvalidInputError) as refusal:
        ledger.reassess(case, "2020-03", {"tier": "some"}, actor="cw", reason="x")
    assert refusal.value.field == "changes.tier"


def test_an_exclusive_holding_names_the_member_and_the_case_held_never_the_number(
    ledger: Ledger,
) -> None:
    member = person(date(1960, 1, 1), 7)
    held = ledger.grant(
        "dibao-rural", QIBIN, "2020-01", [member], income="100", actor="cw", reason="x"
    ).id
    with pytest.raises(ExclusiveHoldingError) as refusal:
        ledger.grant(
            "dibao-urban",
            QIBIN,
            "2020-06",
            [person(date(1961, 1, 1), 8), member],
            income="1",
            actor="cw",
            reason="x",
        )
    assert refusal.value.message.startswith(
        f"person 2 of the household already holds dibao-rural case {held} from 2020-01"
    )
    assert member.identity_number not in refusal.value.message
    assert refusal.value.field == "persons[1].identity_number"


def test_conflicts_name_what_they_conflict_with(ledger: Ledger) -> None:
    case = ledger.grant(
        "disability-living",
        QIBIN,
        "2020-01",
        [person(date(1950, 1, 1))],
        grade=1,
        actor="cw",
        reason="x",
    ).id
    with pytest.raises(CaseStateError, match="dibao case leaves gradually") as not_dibao:
        ledger.start_gradual_exit(case, "2020-03", 2, actor="cw", reason="x")
    assert "disability-living case" in not_dibao.value.message
    ledger.suspend(case, "2020-03", actor="cw", reason="x")
    with pytest.raises(CaseStateError, match=r"suspended from 2020-03"):
        ledger.suspend(case, "2020-05", actor="cw", reason="x")
    with pytest.raises(CaseStateError, match="before the case is granted, from 2020-01"):
        ledger.resume(case, "2019-11", actor="cw", reason="x")
    ledger.request_rescission(case, actor="cw-1", reason="forged")
    with pytest.raises(CaseStateError, match="requested by cw-1 is already waiting"):
        ledger.request_rescission(case, actor="cw-2", reason="forged")
    with pytest.raises(FourEyesError, match="cw-1 requested this rescission"):
        ledger.approve_rescission(case, actor="cw-1", reason="self")
    ledger.close_period(
        "disability-living", QIBIN, "2020-03", ledger.position, [], previous=None, actor="f"
    )
    with pytest.raises(
        CaseStateError, match=f"period 2020-03 of disability-living {QIBIN} is already closed"
    ):
        ledger.close_period(
            "disability-living",
            QIBIN,
            "2020-03",
            ledger.position,
            [],
            previous=Month.parse("2020-03"),
            actor="f",
        )


def test_a_suspended_household_is_reassessed_and_paid_the_new_amount_when_resumed(
    ledger: Ledger,
) -> None:
    case = ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-01",
        [person(date(1980, 1, 1), 1), person(date(1982, 2, 2), 2)],
        income="200",
        actor="cw",
        reason="applied",
    ).id
    ledger.suspend(case, "2020-03", actor="cw", reason="away for work")
    ledger.reassess(case, "2020-04", {"income": "350"}, actor="cw", reason="new wage")
    ledger.resume(case, "2020-05", actor="cw", reason="back home")
    assert amounts(ledger, case, "2020-02", "2020-03", "2020-04", "2020-05") == [
        "800.00",
        "0.00",
        "0.00",
        "500.00",
    ]


def test_an_orphan_case_takes_no_decision_after_the_18th_birthday_month(ledger: Ledger) -> None:
    case = ledger.grant(
        "orphan",
        QIBIN,
        "2019-01",
        [person(date(2002, 4, 30))],
        care="dispersed",
        actor="cw",
        reason="x",
    ).id
    position = ledger.position
    with pytest.raises(CaseStateError) as refusal:
        ledger.suspend(case, "2020-05", actor="cw", reason="x")
    assert refusal.value.message == (
        "the case is closed from 2020-05: a suspended decision effective 2020-05 would have "
        "no effect"
    )
    assert ledger.position == position
    ledger.reassess(case, "2020-04", {"care": "institutional"}, actor="cw", reason="moved")
    assert amounts(ledger, case, "2020-03", "2020-04", "2020-05") == ["1100.00", "1500.00", "0.00"]

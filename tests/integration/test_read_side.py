"""The read side on SQLite and PostgreSQL: rolls, entitlements and totals as known at any
record time, rebuild, crash recovery and read-your-writes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Mapper, Notification

from domain.application.ledger import Ledger
from domain.application.recording import ImportBatch, SaveAt
from domain.cases.case import Case
from domain.months import Month
from domain.people.identity import IdentityNumber
from domain.people.person import PersonInput
from projections.engine import projector as projector_module
from projections.engine import rebuild as rebuild_module
from projections.engine.poller import Poller
from projections.engine.projector import Projector
from projections.engine.rebuild import rebuild_and_compare, replay
from projections.reads.read_side import Entitlement, ReadSide
from projections.storage.database import WRITER_CACHE_KIB, SQLiteViews, ViewDatabase
from projections.storage.opening import open_views
from projections.storage.schema import TRACKING_NAME, create_views, empty_scratch
from projections.storage.signing import UnverifiedEventError, decode_all
from tests.support import (
    QIBIN,
    OnPostgreSQL,
    OnSQLite,
    at,
    grant_reference_disability_case,
    grant_reference_household,
    ledger_at,
    person,
    rescind_in_september_2019,
    set_reference_standards,
    watch_projectors,
)

M = Month.parse


class ReadSideOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, database_url: str) -> Iterator[Ledger]:
        ledger = ledger_at(database_url)
        uow = SaveAt(ledger, at("2019-01-02 09:00"))
        set_reference_standards(ledger, uow=uow)
        yield ledger
        ledger.close()

    @pytest.fixture
    def views(self, ledger: Ledger) -> Iterator[ViewDatabase]:
        views = open_views(ledger.env)
        yield views
        views.close()

    @pytest.fixture
    def scratch(self, ledger: Ledger) -> Iterator[ViewDatabase]:
        views = open_views(ledger.env, schema="ledger_rebuild")
        yield views
        views.close()

    def caught_up(self, ledger: Ledger, views: ViewDatabase, batch_size: int = 7) -> ReadSide:
        Projector(ledger.recorder, ledger.mapper, views, batch_size).catch_up()
        return ReadSide(views)

    def test_reference_case_2_roll_lists_the_household_until_its_gradual_exit_ends(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        case = grant_reference_household(ledger)
        uow = SaveAt(ledger, at("2020-08-20 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="n", uow=uow
        )
        uow = SaveAt(ledger, at("2020-12-21 10:00"))
        ledger.reassess(case, "2021-01", {"income": "700"}, actor="cw", reason="job", uow=uow)
        ledger.start_gradual_exit(case, "2021-01", 6, actor="cw", reason="income", uow=uow)
        read = self.caught_up(ledger, views)
        now = read.position

        def roll(month: str) -> list[tuple[str, str]]:
            return [
                (str(e.amount), e.status) for e in read.roll("dibao-urban", QIBIN, M(month), now)
            ]

        assert roll("2020-07") == [("1350.00", "paying")]
        assert roll("2021-01") == [("1350.00", "leaving")]
        assert roll("2021-06") == [("1350.00", "leaving")]
        assert roll("2021-07") == []
        as_known_before_raise = read.known_position(date(2020, 8, 19))
        assert [
            str(e.amount)
            for e in read.roll("dibao-urban", QIBIN, M("2020-07"), as_known_before_raise)
        ] == ["1200.00"]
        assert read.roll("dibao-urban", QIBIN, M("2020-07"), now)[0].subject_id == case.hex

    def test_reference_case_3_the_elderly_band_changes_without_an_event(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        someone = person(date(1932, 5, 15), 5)
        uow = SaveAt(ledger, at("2022-01-05 10:00"))
        ledger.grant(
            "elderly-allowance", QIBIN, "2022-01", [someone], actor="cw", reason="80+", uow=uow
        )
        read = self.caught_up(ledger, views)
        reference = ledger.references.reference(IdentityNumber.parse(someone.identity_number))
        may = read.entitlements(reference, M("2022-05"), read.position)
        june = read.entitlements(reference, M("2022-06"), read.position)
        assert [(e.programme, e.amount) for e in may] == [("elderly-allowance", Decimal("100.00"))]
        assert [(e.programme, e.amount) for e in june] == [("elderly-allowance", Decimal("200.00"))]

    def test_a_search_awaited_on_an_event_loop_answers_as_one_read_in_a_thread(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        """The service awaits a search on its loop: on PostgreSQL through connections of
        the loop's own, closed on that loop."""
        people = [person(date(1932, 5, 15), 5), person(date(1935, 3, 3), 6)]
        uow = SaveAt(ledger, at("2022-01-05 10:00"))
        for someone in people:
            ledger.grant(
                "elderly-allowance", QIBIN, "2022-01", [someone], actor="cw", reason="80+", uow=uow
            )
        read = self.caught_up(ledger, views)
        references = [
            ledger.references.reference(IdentityNumber.parse(someone.identity_number))
            for someone in [*people, person(date(1940, 1, 1), 7)]
        ]
        asked = [(r, month) for r in references for month in (M("2021-12"), M("2022-06"))]

        async def searched() -> list[list[Entitlement]]:
            try:
                return list(
                    await asyncio.gather(
                        *(read.entitlements_on_loop(r, month, read.position) for r, month in asked)
                    )
                )
            finally:
                await views.close_on_loop()

        on_loop = asyncio.run(searched())
        assert on_loop == [read.entitlements(r, month, read.position) for r, month in asked]
        assert [len(found) for found in on_loop] == [0, 1, 0, 1, 0, 0]

    def test_a_centenarian_is_paid_the_100_plus_band_from_the_month_after_the_birthday(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2022-01-05 10:00"))
        ledger.grant(
            "elderly-allowance",
            QIBIN,
            "2022-01",
            [person(date(1922, 5, 15), 9)],
            actor="cw",
            reason="99 years old",
            uow=uow,
        )
        read = self.caught_up(ledger, views)

        def roll(month: str) -> list[Decimal]:
            return [
                e.amount for e in read.roll("elderly-allowance", QIBIN, M(month), read.position)
            ]

        assert [roll(m) for m in ("2022-01", "2022-05", "2022-06", "2030-01")] == [
            [Decimal("200.00")],
            [Decimal("200.00")],
            [Decimal("300.00")],
            [Decimal("300.00")],
        ]
        totals = read.totals(M("2022-06"), read.position, "elderly-allowance", QIBIN)
        assert [(t.entitled, t.cases) for t in totals] == [(Decimal("300.00"), 1)]

    def test_a_person_80_on_the_first_of_the_month_is_paid_that_month(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2022-06-02 10:00"))
        ledger.grant(
            "elderly-allowance",
            QIBIN,
            "2022-06",
            [person(date(1942, 6, 1), 10)],
            actor="cw",
            reason="80 today",
            uow=uow,
        )
        read = self.caught_up(ledger, views)
        june = read.roll("elderly-allowance", QIBIN, M("2022-06"), read.position)
        assert [e.amount for e in june] == [Decimal("100.00")]
        assert read.roll("elderly-allowance", QIBIN, M("2022-05"), read.position) == []

    def test_reference_case_4_roll_as_known_on_2019_08_31_lists_the_rescinded_case(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        case = grant_reference_disability_case(ledger)
        rescind_in_september_2019(ledger, case)
        read = self.caught_up(ledger, views)
        then = read.known_position(date(2019, 8, 31))
        assert [
            (e.subject_id, e.amount)
            for e in read.roll("disability-living", QIBIN, M("2019-08"), then)
        ] == [(case.hex, Decimal("500.00"))]
        assert read.roll("disability-living", QIBIN, M("2019-08"), read.position) == []
        assert read.known_position(known_at_position=then) == then

    def test_a_date_is_read_as_the_end_of_that_day_in_asia_shanghai(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2019-09-01 00:30"))  # 2019-08-31 16:30 UTC
        ledger.grant(
            "disability-nursing",
            QIBIN,
            "2019-08",
            [person(date(1970, 1, 1), 6)],
            grade=1,
            actor="cw",
            reason="x",
            uow=uow,
        )
        read = self.caught_up(ledger, views)
        assert (
            read.roll(
                "disability-nursing", QIBIN, M("2019-08"), read.known_position(date(2019, 8, 31))
            )
            == []
        )
        assert (
            len(
                read.roll(
                    "disability-nursing", QIBIN, M("2019-08"), read.known_position(date(2019, 9, 1))
                )
            )
            == 1
        )

    def test_an_orphan_leaves_the_roll_after_the_month_of_the_18th_birthday(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        uow = SaveAt(ledger, at("2020-01-10 10:00"))
        ledger.grant(
            "orphan",
            QIBIN,
            "2020-01",
            [person(date(2003, 3, 15), 8)],
            care="dispersed",
            actor="cw",
            reason="x",
            uow=uow,
        )
        read = self.caught_up(ledger, views)
        assert len(read.roll("orphan", QIBIN, M("2021-03"), read.position)) == 1
        assert read.roll("orphan", QIBIN, M("2021-04"), read.position) == []

    def test_totals_sum_the_case_months(self, ledger: Ledger, views: ViewDatabase) -> None:
        uow = SaveAt(ledger, at("2020-01-10 10:00"))
        for serial in range(5):
            ledger.grant(
                "disability-living",
                QIBIN,
                "2020-01",
                [person(date(1960, 1, 1), 20 + serial)],
                grade=1,
                actor="cw",
                reason="x",
                uow=uow,
            )
        ledger.grant_relief(
            QIBIN,
            "urban",
            "expenditure",
            date(2020, 1, 5),
            1,
            "300.50",
            person(date(1960, 1, 1), 40),
            actor="cw",
            reason="x",
            uow=uow,
        )
        read = self.caught_up(ledger, views)
        totals = {
            (t.programme, t.region): (t.entitled, t.cases)
            for t in read.totals(M("2020-01"), read.position)
        }
        assert totals == {
            ("disability-living", QIBIN): (Decimal("2500.00"), 5),
            ("temporary-relief", QIBIN): (Decimal("300.50"), 1),
        }

    def test_rebuild_equals_the_live_views(
        self, ledger: Ledger, views: ViewDatabase, scratch: ViewDatabase
    ) -> None:
        record_a_small_history(ledger)
        self.caught_up(ledger, views, batch_size=3)
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_views_of_another_schema_version_are_dropped_and_replayed_to_the_same_rows(
        self, ledger: Ledger, views: ViewDatabase, scratch: ViewDatabase
    ) -> None:
        record_a_small_history(ledger)
        read = self.caught_up(ledger, views)
        position = read.position
        roll = read.roll("dibao-urban", QIBIN, Month.parse("2020-03"), position)
        with views.transaction() as cursor:
            cursor.execute("UPDATE views_schema SET version = ?", ("written-by-an-older-ledger",))
            cursor.execute("DELETE FROM segments")
        reopened = Projector(ledger.recorder, ledger.mapper, views)
        assert ReadSide(views).position == 0
        reopened.catch_up()
        assert ReadSide(views).position == position
        assert ReadSide(views).roll("dibao-urban", QIBIN, Month.parse("2020-03"), position) == roll
        assert roll
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_raises_re_segmenting_their_cases_a_chunk_at_a_time_give_the_same_views(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        scratch: ViewDatabase,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        uow = SaveAt(ledger, at("2020-03-02 10:00"))
        for n in range(3):
            ledger.grant(
                "dibao-urban",
                QIBIN,
                "2020-03",
                [person(date(1980, 1, 1 + n), 80 + n)],
                income="150.50",
                actor="cw",
                reason="x",
                uow=uow,
            )
        self.caught_up(ledger, views)
        # Two raises in one batch, of cases the batch holds no other event of: the second
        # reads again the cases the first wrote and let go of.
        uow = SaveAt(ledger, at("2020-08-20 10:00"))
        ledger.set_standard(
            "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="n", uow=uow
        )
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-07",
            {"standard": "640"},
            actor="f",
            reason="typo",
            correction=True,
            uow=uow,
        )
        monkeypatch.setattr(projector_module, "RAISE_CHUNK", 1)
        monkeypatch.setattr(projector_module, "HELD_SUBJECTS", 1)
        read = self.caught_up(ledger, views, batch_size=1_000)
        monkeypatch.undo()
        roll = read.roll("dibao-urban", QIBIN, M("2020-08"), read.position)
        assert len(roll) == 3
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_rebuild_names_a_difference(
        self, ledger: Ledger, views: ViewDatabase, scratch: ViewDatabase
    ) -> None:
        record_a_small_history(ledger)
        self.caught_up(ledger, views)
        with views.transaction() as cursor:
            cursor.execute(
                "UPDATE segments SET amount_fen = amount_fen + 1 WHERE status = 'paying'"
            )
        differences = rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch)
        assert differences
        assert all(d.startswith("segments: live") for d in differences)

    def test_a_projection_that_dies_mid_batch_resumes_with_nothing_lost_or_counted_twice(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        scratch: ViewDatabase,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        record_a_small_history(ledger)
        projector = Projector(ledger.recorder, ledger.mapper, views, batch_size=10)
        projector.run_batch()
        calls = 0
        original = projector_module._Batch.apply

        def dying_apply(batch: projector_module._Batch, position: int, event: object) -> None:
            nonlocal calls
            calls += 1
            if calls == 5:
                raise RuntimeError("the process dies here")
            original(batch, position, event)

        monkeypatch.setattr(projector_module._Batch, "apply", dying_apply)
        with pytest.raises(RuntimeError):
            projector.run_batch()
        assert projector.position == 10
        monkeypatch.setattr(projector_module._Batch, "apply", original)
        restarted = Projector(ledger.recorder, ledger.mapper, views, batch_size=10)
        restarted.catch_up()
        assert restarted.position == ledger.position
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_a_projector_whose_batch_failed_goes_on_from_the_views_not_from_what_it_held(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        scratch: ViewDatabase,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        record_a_small_history(ledger)
        projector = Projector(ledger.recorder, ledger.mapper, views, batch_size=3)
        original = projector_module._Batch.apply
        failed_at: list[int] = []

        def failing_apply(batch: projector_module._Batch, position: int, event: object) -> None:
            original(batch, position, event)
            if isinstance(event, Case.DatedDecision) and not failed_at:
                # The case, granted in an earlier batch, has changed in memory: then the
                # batch fails and its transaction is rolled back.
                failed_at.append(position)
                raise RuntimeError("the database refuses the batch")

        monkeypatch.setattr(projector_module._Batch, "apply", failing_apply)
        with pytest.raises(RuntimeError):
            projector.catch_up()
        assert 0 < projector.position < failed_at[0]
        projector.catch_up()
        assert projector.position == ledger.position
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_a_projector_holding_few_subjects_reads_the_others_back_to_the_same_views(
        self,
        ledger: Ledger,
        views: ViewDatabase,
        scratch: ViewDatabase,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        record_a_small_history(ledger)
        monkeypatch.setattr(projector_module, "HELD_SUBJECTS", 1)
        self.caught_up(ledger, views, batch_size=2)
        monkeypatch.undo()
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_a_replay_lets_go_of_its_projector_before_collections_return_to_their_pace(
        self, ledger: Ledger, scratch: ViewDatabase, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Collections at the usual pace soon walk every live object: the subjects the
        # replay's projector holds must be gone by then.
        record_a_small_history(ledger)
        watched = watch_projectors(rebuild_module, monkeypatch)
        assert replay(ledger.recorder, ledger.mapper, scratch, ledger.position) == ledger.position
        assert watched.made
        assert watched.alive_at_the_end == []

    def test_a_projector_offered_more_events_than_it_keeps_decodes_the_oldest_itself(
        self, ledger: Ledger, views: ViewDatabase, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        decoded: list[int] = []

        def decoding(
            mapper: Mapper[UUID], notifications: Sequence[Notification]
        ) -> tuple[list[Any], UnverifiedEventError | None]:
            decoded.extend(n.id for n in notifications)
            return decode_all(mapper, notifications)

        monkeypatch.setattr(projector_module, "decode_all", decoding)
        monkeypatch.setattr(projector_module, "OFFERED_EVENTS", 3)
        before = ledger.position
        projector = Projector(ledger.recorder, ledger.mapper, views, batch_size=100)
        with ImportBatch(ledger, saved=projector.offer) as batch:
            for number in range(80, 85):
                ledger.grant(
                    "elderly-allowance",
                    QIBIN,
                    "2020-03",
                    [person(date(1935, 1, 1), number)],
                    actor="cw",
                    reason="x",
                    uow=batch.at(at("2020-03-02 10:00")),
                )
                if number == 83:
                    batch.flush()  # offered in two saves, the first save's the oldest
        projector.catch_up()
        assert ledger.position - before > 3
        everything = list(range(1, ledger.position + 1))
        assert decoded == everything[:-3]

    def test_two_projectors_racing_project_each_event_once(
        self, ledger: Ledger, views: ViewDatabase, scratch: ViewDatabase, database_url: str
    ) -> None:
        record_a_small_history(ledger)
        other_views = open_views(ledger.env)
        try:
            projectors = [
                Projector(ledger.recorder, ledger.mapper, views, 4),
                Projector(ledger.recorder, ledger.mapper, other_views, 4),
            ]
            threads = [threading.Thread(target=p.catch_up) for p in projectors]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            other_views.close()
        assert ReadSide(views).position == ledger.position
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_a_projector_continues_correctly_after_another_took_the_earlier_batches(
        self, ledger: Ledger, views: ViewDatabase, scratch: ViewDatabase
    ) -> None:
        record_a_small_history(ledger)
        first, second = (
            Projector(ledger.recorder, ledger.mapper, views, 4),
            Projector(ledger.recorder, ledger.mapper, views, 4),
        )
        for _ in range(3):
            second.run_batch()
        first.catch_up()
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_a_projector_drops_what_it_held_when_another_took_the_batches_after_its_own(
        self, ledger: Ledger, views: ViewDatabase, scratch: ViewDatabase
    ) -> None:
        record_a_small_history(ledger)
        first, second = (
            Projector(ledger.recorder, ledger.mapper, views, 4),
            Projector(ledger.recorder, ledger.mapper, views, 4),
        )
        first.run_batch()  # it holds the cases of its batch as it wrote them
        for _ in range(3):
            second.run_batch()  # the same cases change in the views behind its back
        first.catch_up()
        assert first.position == ledger.position
        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []

    def test_reads_on_one_connection_hold_up_no_projector(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        """A close reads its lines through ``reading()``; the projector commits meanwhile."""
        read = self.caught_up(ledger, views)
        before = read.position
        with views.reading() as reader:
            roll_query = "SELECT COUNT(*) FROM segments WHERE known_from <= ?"
            counted = reader.fetchall(roll_query, (before,))
            grant_reference_disability_case(ledger)
            failures: list[BaseException] = []

            def project() -> None:
                try:
                    Projector(ledger.recorder, ledger.mapper, views).catch_up()
                except BaseException as failure:
                    failures.append(failure)

            projecting = threading.Thread(target=project)
            projecting.start()
            projecting.join()
            assert failures == []
            assert reader.fetchall(roll_query, (before,)) == counted
        assert ReadSide(views).position == ledger.position > before

    @pytest.mark.parametrize("told_by_poller", [False, True], ids=["query", "poller"])
    def test_a_caller_can_wait_until_the_views_reach_its_decision(
        self, ledger: Ledger, views: ViewDatabase, told_by_poller: bool
    ) -> None:
        poller = Poller(Projector(ledger.recorder, ledger.mapper, views), interval=0.01)
        poller.start()
        try:
            receipt = ledger.grant(
                "disability-living",
                QIBIN,
                "2020-01",
                [person(date(1966, 6, 6), 60)],
                grade=1,
                actor="cw",
                reason="x",
            )
            read = ReadSide(views, poller.reached if told_by_poller else None)
            read.wait_for(receipt.position, timeout=10)
            assert read.position == ReadSide(views).position == receipt.position
            roll = read.roll("disability-living", QIBIN, M("2020-01"), read.position)
            assert [e.subject_id for e in roll] == [receipt.id.hex]
        finally:
            poller.stop()


def record_a_small_history(ledger: Ledger) -> None:
    """A few cases of each kind, with a retroactive raise, an exit and a rescission."""
    uow = SaveAt(ledger, at("2020-03-02 10:00"))
    dibao = ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-03",
        [person(date(1980, 1, 1), 71), person(date(1981, 1, 1), 72)],
        income="150.50",
        actor="cw",
        reason="x",
        uow=uow,
    ).id
    tekun = ledger.grant(
        "tekun",
        QIBIN,
        "2020-03",
        [person(date(1950, 1, 1), 73)],
        area="urban",
        tier="partial",
        actor="cw",
        reason="x",
        uow=uow,
    ).id
    ledger.grant(
        "elderly-allowance",
        QIBIN,
        "2020-03",
        [person(date(1930, 1, 1), 74)],
        actor="cw",
        reason="x",
        uow=uow,
    )
    nursing = ledger.grant(
        "disability-nursing",
        QIBIN,
        "2020-03",
        [person(date(1990, 1, 1), 75)],
        grade=1,
        actor="cw-1",
        reason="x",
        uow=uow,
    ).id
    ledger.grant_relief(
        QIBIN,
        "rural",
        "emergency",
        date(2020, 3, 1),
        3,
        "900",
        PersonInput(person(date(1977, 1, 1), 76).identity_number, "钱七"),
        actor="cw",
        reason="flood",
        uow=uow,
    )
    uow = SaveAt(ledger, at("2020-08-20 10:00"))
    ledger.set_standard(
        "dibao-urban", QIBIN, "2020-07", {"standard": "650"}, actor="f", reason="n", uow=uow
    )
    ledger.suspend(tekun, "2020-06", actor="cw", reason="hospital", uow=uow)
    ledger.exit(dibao, "2020-09", actor="cw", reason="moved away", uow=uow)
    uow = SaveAt(ledger, at("2020-09-01 10:00"))
    ledger.request_rescission(nursing, actor="cw-1", reason="forged", uow=uow)
    ledger.approve_rescission(nursing, actor="approver", reason="ok", uow=uow)
    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-07",
        {"standard": "640"},
        actor="f",
        reason="typo",
        correction=True,
        uow=uow,
    )


class TestReadSideOnSQLite(OnSQLite, ReadSideOnStore):
    def test_only_a_thread_that_writes_the_views_keeps_a_large_page_cache(
        self, ledger: Ledger, views: ViewDatabase
    ) -> None:
        """A service's many reading threads keep SQLite's default cache: memory stays
        bounded by the writers, each of which keeps ``WRITER_CACHE_KIB``."""
        cache_size = "PRAGMA cache_size"
        self.caught_up(ledger, views)
        assert views.fetchall(cache_size) == [(-WRITER_CACHE_KIB,)]
        read: list[list[tuple[object, ...]]] = []
        reader = threading.Thread(target=lambda: read.append(views.fetchall(cache_size)))
        reader.start()
        reader.join()
        with closing(sqlite3.connect(":memory:")) as fresh:
            assert read == [fresh.execute(cache_size).fetchall()] != [[(-WRITER_CACHE_KIB,)]]


class TestReadSideOnPostgreSQL(OnPostgreSQL, ReadSideOnStore):
    pass


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_replays_scratch_views_are_emptied_and_open_again_as_new(
    tmp_path: Path, in_memory: bool
) -> None:
    path = tmp_path / "ledger-ledger_rebuild.db"
    scratch = SQLiteViews(":memory:" if in_memory else path)
    try:
        create_views(scratch, TRACKING_NAME)
        with scratch.transaction() as cursor:
            cursor.execute("INSERT INTO positions VALUES (1, 0, 'a', 1)")
        empty_scratch(scratch)
        if not in_memory:  # removed, not walked page by page to drop its tables
            assert sorted(tmp_path.iterdir()) == []
        assert scratch.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'") == []
        create_views(scratch, TRACKING_NAME)
        assert scratch.fetchall("SELECT count(*) FROM positions") == [(0,)]
    finally:
        scratch.close()

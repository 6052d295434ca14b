"""The command side on a real SQLite file and a real PostgreSQL database.

``LedgerOnStore`` holds every test; each backend subclasses it with its own database URL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.application.ledger import Ledger
from domain.application.recording import ImportBatch
from domain.cases.case import Case
from domain.errors import ConflictError, InvalidIdentityNumberError, RecordTimeError
from domain.people.identity import IdentityNumber
from domain.people.index import PersonIndex
from domain.people.person import PersonInput
from tests.support import (
    QIBIN,
    OnPostgreSQL,
    OnSQLite,
    identity_number,
    ledger_at,
    person,
    set_reference_standards,
)

THREADS = 20


def elderly_case(ledger: Ledger) -> UUID:
    """Reference case 3: an old-age allowance from 2019-01."""
    return ledger.grant(
        "elderly-allowance",
        QIBIN,
        "2019-01",
        [person(date(1932, 5, 15))],
        actor="cw",
        reason="80+",
    ).id


class LedgerOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, database_url: str) -> Iterator[Ledger]:
        ledger = ledger_at(database_url)
        set_reference_standards(ledger)
        yield ledger
        ledger.close()

    def test_reference_case_3_survives_a_restart(self, ledger: Ledger, database_url: str) -> None:
        case = elderly_case(ledger)
        reopened = ledger_at(database_url)
        try:
            assert [str(reopened.monthly_amount(case, m)) for m in ("2022-05", "2022-06")] == [
                "100.00",
                "200.00",
            ]
        finally:
            reopened.close()

    def test_reference_case_5_relief_cap_and_four_eyes(self, ledger: Ledger) -> None:
        def ask(amount: str) -> UUID:
            return ledger.grant_relief(
                QIBIN,
                "urban",
                "expenditure",
                date(2020, 5, 1),
                2,
                amount,
                person(date(1970, 1, 1)),
                actor="cw-1",
                reason="medical bills",
            ).id

        at_cap, above_cap = ask("7200.00"), ask("7200.01")
        assert ledger.relief(at_cap).granted
        assert not ledger.relief(above_cap).granted
        position = ledger.position
        with pytest.raises(ConflictError):
            ledger.approve_relief(above_cap, actor="cw-1", reason="mine")
        assert ledger.position == position
        ledger.approve_relief(above_cap, actor="approver-1", reason="ok")
        assert ledger.relief(above_cap).granted
        assert ledger.relief(above_cap).cap == Decimal("7200.00")

    def test_reference_case_6_wrong_check_character_stores_nothing(self, ledger: Ledger) -> None:
        good = identity_number(date(1950, 1, 1))
        wrong = good[:17] + ("1" if good[17] == "0" else "0")
        position = ledger.position
        with pytest.raises(InvalidIdentityNumberError):
            ledger.grant(
                "disability-living",
                QIBIN,
                "2020-01",
                [PersonInput(wrong, "王五")],
                grade=2,
                actor="cw",
                reason="x",
            )
        assert ledger.position == position

    def test_names_and_identity_numbers_are_stored_encrypted(self, ledger: Ledger) -> None:
        number = identity_number(date(1948, 8, 8), 42)
        case_id = ledger.grant(
            "disability-living",
            QIBIN,
            "2020-01",
            [PersonInput(number, "赵六")],
            grade=3,
            actor="cw",
            reason="x",
        ).id
        stored = b"".join(
            n.state for n in ledger.recorder.select_notifications(start=1, limit=10_000)
        )
        assert number.encode() not in stored
        assert "赵六".encode() not in stored
        persons = ledger.case(case_id).persons
        assert persons[0]["identity_number"].reveal() == number
        assert persons[0]["name"].reveal() == "赵六"

    def test_an_import_earlier_than_the_latest_stored_decision_is_refused(
        self, ledger: Ledger
    ) -> None:
        with pytest.raises(RecordTimeError):
            ImportBatch(ledger).at(datetime(2019, 8, 31, tzinfo=UTC))

    def test_an_import_asks_which_aggregates_are_stored_in_one_query(self, ledger: Ledger) -> None:
        case = elderly_case(ledger)
        index = PersonIndex.id_for(ledger.case(case).person_refs[0])
        absent = [uuid4() for _ in range(1_500)]  # more than one SQLite query's worth
        assert ledger.stored_among([*absent, case, index]) == {case, index}
        batch = ImportBatch(ledger)
        batch.expect([absent[0], case, index])
        assert batch.aggregates == {absent[0]: None}  # known not stored; the others looked up
        assert isinstance(batch.load(Case, case), Case)

    def test_racing_grants_of_one_programme_end_with_one_case(self, ledger: Ledger) -> None:
        someone = person(date(1960, 6, 6), 99)
        outcomes = race(
            lambda: ledger.grant(
                "disability-living", QIBIN, "2020-01", [someone], grade=1, actor="cw", reason="x"
            )
        )
        assert outcomes.count("granted") == 1
        assert outcomes.count("refused") == THREADS - 1
        assert count_cases(ledger) == 1
        assert len(person_index(ledger, someone).holdings) == 1

    def test_racing_dibao_and_tekun_grants_end_with_one_case(self, ledger: Ledger) -> None:
        someone = person(date(1960, 6, 6), 98)
        other = person(date(1961, 6, 6), 97)
        calls = 0
        lock = threading.Lock()

        def grant() -> object:
            nonlocal calls
            with lock:
                calls += 1
                dibao = calls % 2 == 0
            if dibao:
                return ledger.grant(
                    "dibao-urban",
                    QIBIN,
                    "2020-01",
                    [other, someone],
                    income="100",
                    actor="cw",
                    reason="x",
                )
            return ledger.grant(
                "tekun",
                QIBIN,
                "2020-01",
                [someone],
                area="urban",
                tier="self",
                actor="cw",
                reason="x",
            )

        outcomes = race(grant)
        assert outcomes.count("granted") == 1
        assert count_cases(ledger) == 1
        assert len(person_index(ledger, someone).holdings) == 1

    def test_racing_joins_of_one_person_into_many_households_end_with_one_member(
        self, ledger: Ledger
    ) -> None:
        households = [
            ledger.grant(
                "dibao-urban",
                QIBIN,
                "2020-01",
                [person(date(1970, 1, 1), serial)],
                income="100",
                actor="cw",
                reason="x",
            ).id
            for serial in range(THREADS)
        ]
        newcomer = person(date(1990, 9, 9), 96)
        waiting = list(households)
        lock = threading.Lock()

        def join() -> object:
            with lock:
                household = waiting.pop()
            return ledger.reassess(
                household, "2021-01", {}, joining=[newcomer], actor="cw", reason="moved in"
            )

        outcomes = race(join)
        assert outcomes.count("granted") == 1
        assert outcomes.count("refused") == THREADS - 1
        (holding,) = person_index(ledger, newcomer).holdings.values()
        joined = [h for h in households if len(ledger.case(h).person_refs) == 2]
        assert len(holding) == 1 and len(joined) == 1


def race(command: Callable[[], object]) -> list[str]:
    """Run ``command`` on THREADS threads released together; 'granted' or 'refused' each."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            command()
            outcomes.append("granted")
        except ConflictError:
            outcomes.append("refused")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return outcomes


def count_cases(ledger: Ledger) -> int:
    topic = f"{Case.__module__}:{Case.Granted.__qualname__}"
    return sum(
        1 for n in ledger.recorder.select_notifications(start=1, limit=100_000) if n.topic == topic
    )


def person_index(ledger: Ledger, someone: PersonInput) -> PersonIndex:
    reference = ledger.references.reference(IdentityNumber.parse(someone.identity_number))
    index: PersonIndex = ledger.repository.get(PersonIndex.id_for(reference))
    return index


class TestLedgerOnSQLite(OnSQLite, LedgerOnStore):
    pass


class TestLedgerOnPostgreSQL(OnPostgreSQL, LedgerOnStore):
    pass


@pytest.mark.postgres
def test_processes_opening_one_postgresql_ledger_at_once_do_not_collide(postgres_url: str) -> None:
    ledger_at(postgres_url).close()  # the tables exist; what is replaced on opening races
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def open_and_close() -> None:
        start.wait()
        for _ in range(5):
            try:
                ledger_at(postgres_url).close()
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=open_and_close) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

"""Property: over random decision histories, incrementally projected views equal a rebuild,
totals equal the sum of the command side's case-months, and what was known at any earlier
position stays exactly what the views said then."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from api.core.settings import postgres_url_with_dbname
from api.services.closing import close_period
from domain.application.ledger import Ledger
from domain.cases.case import Case
from domain.errors import LedgerRefusal
from domain.months import Month
from domain.people.identity import IdentityNumber
from domain.people.person import PersonInput
from projections.engine.projector import Projector
from projections.engine.rebuild import rebuild_and_compare
from projections.reads.approvals import pending_approvals
from projections.reads.period_accounts import Accounts
from projections.reads.read_side import ReadSide
from projections.storage.opening import open_views
from tests.support import QIBIN, ledger_at, person, set_reference_standards

MONTHS = [Month.parse("2019-01") + n for n in range(36)]
FACTS: dict[str, dict[str, Any]] = {
    "tekun": {"area": "urban", "tier": "self"},
    "disability-living": {"grade": 2},
    "orphan": {"care": "dispersed"},
}
CLOSED_PROGRAMMES = ("dibao-urban", "disability-living", "temporary-relief")
PROGRAMMES = ("dibao-urban", "tekun", "elderly-allowance", "disability-living", "orphan")


@dataclass(frozen=True)
class Step:
    kind: str
    who: int  # a person in a small pool, or a case among those granted
    month: int  # an index into MONTHS
    number: int  # income, months of a gradual exit, a raise


steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(
            [
                "grant",
                "grant",
                "reassess",
                "suspend",
                "resume",
                "exit",
                "gradual",
                "rescind",
                "raise",
                "relief",
                "ask",
                "approve",
                "request",
                "join",
                "leave",
                "project",
            ]
        ),
        who=st.integers(0, 7),
        month=st.integers(0, 8) | st.integers(0, len(MONTHS) - 1),  # early months get closed
        number=st.integers(1, 6),
    ),
    min_size=1,
    max_size=30,
)


def someone_in_the_pool(who: int) -> PersonInput:
    return person(date(1935 + 10 * (who % 8), 3, 1 + who), who)


def apply(ledger: Ledger, step: Step, cases: list[UUID], asked: list[UUID]) -> None:
    month = MONTHS[step.month]
    someone = someone_in_the_pool(step.who)
    case = cases[step.who % len(cases)] if cases else None
    relief = asked[step.who % len(asked)] if asked else None
    match step.kind:
        case "grant":
            programme = PROGRAMMES[(step.who + step.number) % len(PROGRAMMES)]
            facts: dict[str, Any] = FACTS.get(programme, {})
            if programme == "dibao-urban":
                facts = {"income": str(50 * step.number)}
            receipt = ledger.grant(
                programme, QIBIN, month, [someone], actor="cw", reason="r", **facts
            )
            cases.append(receipt.id)
        case "reassess" if case is not None:
            ledger.reassess(case, month, {"income": str(100 * step.number)}, actor="cw", reason="r")
        case "suspend" if case is not None:
            ledger.suspend(case, month, actor="cw", reason="r")
        case "resume" if case is not None:
            ledger.resume(case, month, actor="cw", reason="r")
        case "exit" if case is not None:
            ledger.exit(case, month, actor="cw", reason="r")
        case "gradual" if case is not None:
            ledger.start_gradual_exit(case, month, step.number, actor="cw", reason="r")
        case "rescind" if case is not None:
            ledger.request_rescission(case, actor="cw", reason="r")
            ledger.approve_rescission(case, actor="approver", reason="r")
        case "join" if case is not None:
            ledger.reassess(case, month, {}, joining=[someone], actor="cw", reason="r")
        case "leave" if case is not None:
            named = ledger.case(case).persons
            leaver = named[step.number % len(named)]["identity_number"].reveal()
            ledger.reassess(case, month, {}, leaving=[leaver], actor="cw", reason="r")
        case "request" if case is not None:
            ledger.request_rescission(case, actor="cw", reason="r")
        case "ask":
            receipt = ledger.grant_relief(
                QIBIN,
                "urban",
                "expenditure",
                month.first_day,
                step.number,
                "99999",
                someone,
                actor="cw",
                reason="above the cap",
            )
            asked.append(receipt.id)
        case "approve" if relief is not None:
            ledger.approve_relief(relief, actor="approver", reason="r")
        case "raise":
            standard = 600 + 10 * step.number + step.month
            ledger.set_standard(
                "dibao-urban", QIBIN, month, {"standard": str(standard)}, actor="f", reason="r"
            )
        case "relief":
            ledger.grant_relief(
                QIBIN,
                "urban",
                "emergency",
                month.first_day,
                step.number,
                str(100 * step.number),
                someone,
                actor="cw",
                reason="r",
            )


def check_history(database_url: str, history: list[Step]) -> None:
    ledger = ledger_at(database_url)
    views, scratch = open_views(ledger.env), open_views(ledger.env, schema="ledger_rebuild")
    try:
        set_reference_standards(ledger)
        projector = Projector(ledger.recorder, ledger.mapper, views, batch_size=5)
        read = ReadSide(views)
        seen: dict[int, list[object]] = {}
        cases: list[UUID] = []
        asked: list[UUID] = []
        next_close = {programme: MONTHS[0] for programme in CLOSED_PROGRAMMES}
        for step in history:
            if step.kind == "project":
                projector.catch_up()
                seen[read.position] = known_at(ledger, read, read.position)
                continue
            if step.kind == "close":
                programme = CLOSED_PROGRAMMES[step.who % len(CLOSED_PROGRAMMES)]
                for _ in range(2 * step.number):
                    projector.catch_up()
                    close_period(ledger, views, programme, QIBIN, next_close[programme], actor="f")
                    next_close[programme] += 1
                continue
            with suppress(LedgerRefusal):
                apply(ledger, step, cases, asked)
        projector.catch_up()

        assert rebuild_and_compare(ledger.recorder, ledger.mapper, views, scratch) == []
        accounts = Accounts(views)
        assert all(p.digest_matches for p in accounts.periods(read.position))
        months = accounts.closed_months(read.position)
        assert [a for a in months if not a.balances] == []
        for period, account in zip(accounts.periods(read.position), months, strict=True):
            known_then = read.totals(period.month, period.position, period.programme, QIBIN)
            assert account.paid == sum((t.entitled for t in known_then), Decimal("0.00"))
        for position, totals in seen.items():
            assert known_at(ledger, read, position) == totals
        waiting = {
            (p.request.what.value, p.request.subject_id)
            for p in pending_approvals(views, read.position)
        }
        assert waiting == {
            ("relief", relief.hex) for relief in asked if not ledger.relief(relief).granted
        } | {
            ("rescission", case.hex)
            for case in cases
            if ledger.case(case).rescission_requested_by and not ledger.case(case).rescinded
        }
        for month in MONTHS[::3]:
            for who in range(8):
                reference = ledger.references.reference(
                    IdentityNumber.parse(someone_in_the_pool(who).identity_number)
                )
                found = {
                    e.subject_id
                    for e in read.entitlements(reference, month, read.position)
                    if e.programme != "temporary-relief"
                }
                assert found == {
                    case.hex for case in cases if holds(ledger.case(case), reference, month)
                }, (who, month)
            by_programme: dict[str, Decimal] = {}
            for case in cases:
                amount = ledger.monthly_amount(case, month)
                if amount:
                    programme = ledger.case(case).programme.value
                    by_programme[programme] = by_programme.get(programme, Decimal(0)) + amount
            projected = {
                t.programme: t.entitled
                for t in read.totals(month, read.position)
                if t.programme != "temporary-relief" and t.entitled
            }
            assert projected == by_programme, month
    finally:
        views.close()
        scratch.close()
        ledger.close()


def known_at(ledger: Ledger, read: ReadSide, position: int) -> list[object]:
    """What the views say as known at ``position``: totals, entitlements of the persons in
    the pool, and the approvers' queue."""
    references = [
        ledger.references.reference(IdentityNumber.parse(someone_in_the_pool(w).identity_number))
        for w in range(8)
    ]
    return [
        *(read.totals(m, position) for m in MONTHS[::5]),
        *(read.entitlements(r, m, position) for r in references for m in MONTHS[::7]),
        pending_approvals(read.views, position),
    ]


def holds(case: Case, reference: str, month: Month) -> bool:
    """Whether the person is in the case in ``month`` on the command side."""
    state = case.month(month)
    if not state.is_open:
        return False
    return reference in (state.members if case.programme.is_dibao else case.person_refs)


@contextmanager
def fresh_sqlite() -> Iterator[str]:
    folder = tempfile.mkdtemp()
    try:
        yield f"sqlite:///{folder}/ledger.db"
    finally:
        shutil.rmtree(folder)


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    name = sql.Identifier(f"ledger_p_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield postgres_url_with_dbname(admin_url, name.as_string(None).strip('"'))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


# Grant, close two months, rescind, close again: the recovery path, always exercised.
RECOVERY_HISTORY = [
    Step("grant", 3, 0, 2),
    Step("close", 0, 0, 2),
    Step("close", 1, 0, 2),
    Step("rescind", 0, 0, 1),
    Step("close", 0, 0, 1),
    Step("close", 1, 0, 1),
]


@example(history=RECOVERY_HISTORY)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps)
def test_random_histories_on_sqlite(history: list[Step]) -> None:
    with fresh_sqlite() as url:
        check_history(url, history)


@pytest.mark.postgres
@example(history=RECOVERY_HISTORY)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=steps)
def test_random_histories_on_postgresql(postgres_admin_url: str, history: list[Step]) -> None:
    with fresh_postgres(postgres_admin_url) as url:
        check_history(url, history)

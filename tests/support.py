"""Helpers shared by the tests: identity numbers, ledgers on each store, reference data."""

from __future__ import annotations

import base64
import hashlib
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.core.settings import Settings
from domain.application.ledger import Ledger
from domain.application.recording import SaveAt, SaveNow, UnitOfWork
from domain.cases.payee import PayeeInput
from domain.months import BUREAU_TIME_ZONE
from domain.people.identity import check_character
from domain.people.person import PersonInput
from projections.engine.projector import Projector

QIBIN = "410611"
HESHAN = "410602"


def identity_number(birth: date, serial: int = 1, region: str = QIBIN) -> str:
    """A valid resident identity number for someone born on ``birth``."""
    first_17 = f"{region}{birth:%Y%m%d}{serial % 1000:03d}"
    return first_17 + check_character(first_17)


def person(birth: date, serial: int = 1, name: str = "张三") -> PersonInput:
    return PersonInput(identity_number(birth, serial), name)


def public_development_key(purpose: str) -> str:
    """A development key of the code before the ledger made its own per installation: derived
    from a public string (``purpose``: "personal data", "person references" or "token
    signing"), so anyone could make it."""
    digest = hashlib.sha256(f"social-assistance-ledger development {purpose}".encode())
    return base64.b64encode(digest.digest()).decode("ascii")


# The tests of other rules record dibao and tekun decisions as the history from before
# household verification (docs/verification.md, "History"): none of them cites one. Settings
# refuse such a day for a service, so every decision over HTTP cites a verification.
BEFORE_VERIFICATIONS = {"LEDGER_VERIFICATION_REQUIRED_FROM": "9999-12-31"}


def ledger_at(database_url: str, *, verifications_required: bool = False) -> Ledger:
    settings = Settings(database_url=database_url)
    settings.keep_development_keys()
    env = settings.ledger_env()
    return Ledger(env if verifications_required else {**env, **BEFORE_VERIFICATIONS})


def memory_ledger(*, verifications_required: bool = False) -> Ledger:
    return ledger_at("memory:", verifications_required=verifications_required)


def set_reference_standards(
    ledger: Ledger, region: str = QIBIN, effective: str = "2019-01", uow: UnitOfWork | None = None
) -> None:
    """Standards for every programme in ``region`` from ``effective``."""
    for programme, parameters in {
        "dibao-urban": {"standard": "600"},
        "dibao-rural": {"standard": "400"},
        "tekun": {
            "basic_urban": "700",
            "basic_rural": "500",
            "care_self": "100",
            "care_partial": "300",
            "care_full": "600",
        },
        "elderly-allowance": {"age_80_89": "100", "age_90_99": "200", "age_100_plus": "300"},
        "disability-living": {"standard": "500"},
        "disability-nursing": {"standard": "300"},
        "orphan": {"institutional": "1500", "dispersed": "1100"},
    }.items():
        ledger.set_standard(
            programme, region, effective, parameters, actor="finance-1", reason="notice", uow=uow
        )


def at(text: str) -> datetime:
    """A decision time in the bureau's time zone: ``at("2019-08-20 10:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=BUREAU_TIME_ZONE)


class OnSQLite:
    """Mixed into a test class: its ``database_url`` is a fresh SQLite file."""

    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class OnPostgreSQL:
    """Mixed into a test class: its ``database_url`` is a fresh PostgreSQL database."""

    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


def verified_household(
    ledger: Ledger,
    persons: Sequence[PersonInput],
    income: str = "200",
    *,
    uow: UnitOfWork | None = None,
    case_id: UUID | None = None,
) -> UUID:
    """A verification by the city's platform, made the day it is recorded, of the household
    of ``persons``, each with the verified monthly income ``income`` (so ``income`` per
    capita)."""
    uow = uow or SaveNow(ledger)
    return ledger.record_verification(
        [(p.identity_number, income) for p in persons],
        sources=["wages", "pensions", "real-estate"],
        made_on=uow.time().astimezone(BUREAU_TIME_ZONE).date(),
        level="city",
        report_id=f"HB-{uuid4().hex[:12]}",
        actor="cw",
        case_id=case_id,
        uow=uow,
    ).id


def grant_reference_household(ledger: Ledger) -> UUID:
    """Reference cases 1 and 2: an urban dibao household of 3 in Qibin with a per-capita
    income of 200, verified and granted from 2020-03 (recorded on 2020-03-02)."""
    household = [
        person(date(1980, 1, 1), 1),
        person(date(1982, 2, 2), 2),
        person(date(2010, 3, 3), 3),
    ]
    uow = SaveAt(ledger, at("2020-03-02 10:00"))
    verification = verified_household(ledger, household, uow=uow)
    return ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-03",
        household,
        income="200",
        verification_id=verification,
        actor="cw",
        reason="x",
        uow=uow,
    ).id


def grant_reference_disability_case(ledger: Ledger) -> UUID:
    """Reference case 4: a disability living subsidy granted from 2019-04."""
    uow = SaveAt(ledger, at("2019-04-03 09:30"))
    return ledger.grant(
        "disability-living",
        QIBIN,
        "2019-04",
        [person(date(1975, 7, 7), 4)],
        grade=2,
        actor="cw-1",
        reason="certificate",
        uow=uow,
    ).id


def rescind_in_september_2019(ledger: Ledger, case: UUID) -> None:
    """Reference case 4: the rescission requested and approved in 2019-09."""
    uow = SaveAt(ledger, at("2019-09-10 11:00"))
    ledger.request_rescission(case, actor="cw-1", reason="forged certificate", uow=uow)
    ledger.approve_rescission(case, actor="approver-1", reason="confirmed", uow=uow)


def grant_paid_household(
    ledger: Ledger,
    effective: str,
    persons: list[PersonInput],
    income: str,
    card_number: str,
    region: str = QIBIN,
) -> UUID:
    """An urban dibao household granted from ``effective``, its first member paid into
    ``card_number``: every dibao grant of the payment tests goes through here."""
    payee = PayeeInput(card_number)
    return ledger.grant(
        "dibao-urban",
        region,
        effective,
        persons,
        income=income,
        payee=payee,
        actor="cw",
        reason="r",
    ).id


@dataclass
class ProjectorsWatched:
    """The projectors a module made, and those still alive when its ``rare_collections``
    block ended: collections at the usual pace soon walk every live object, so what batch
    work held should be gone by then."""

    made: list[weakref.ref[Projector]] = field(default_factory=list)
    alive_at_the_end: list[Projector] = field(default_factory=list)


def watch_projectors(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ProjectorsWatched:
    """Watch the projectors ``module`` makes, and which of them outlive its block of rare
    collections."""
    watched = ProjectorsWatched()

    class Watched(Projector):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            watched.made.append(weakref.ref(self))

    @contextmanager
    def watched_collections() -> Iterator[None]:
        yield
        alive = (ref() for ref in watched.made)
        watched.alive_at_the_end.extend(p for p in alive if p is not None)

    monkeypatch.setattr(module, "Projector", Watched)
    monkeypatch.setattr(module, "rare_collections", watched_collections)
    return watched

"""The command side: one eventsourcing Application that records every decision.

Every command validates first and saves once; a refused command raises a LedgerRefusal and
stores nothing. How decisions are stamped and saved is in ``domain.application.recording``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import Environment

from domain.ages import first_month_aged
from domain.application.moved_topics import register_moved_modules
from domain.application.recording import Receipt, RecordingApplication
from domain.application.transcodings import DateAsISO, MonthAsStr
from domain.cases.amounts import (
    ELDERLY_FIRST_AGE,
    monthly_amount,
    orphan_last_month,
    parameters_in_force,
)
from domain.cases.case import Case
from domain.cases.programmes import (
    AREAS,
    CASE_PROGRAMMES,
    REASSESSABLE_FACTS,
    CaseFacts,
    Programme,
    check_facts,
    dibao_programme_for,
    parse_programme,
)
from domain.errors import (
    EffectiveMonthError,
    IncomeAboveStandardError,
    InvalidInputError,
    NotEligibleError,
    NotFoundError,
)
from domain.money import ZERO, require_money, round_to_fen
from domain.months import Month, parse_month
from domain.payroll_periods import PayrollLine, PayrollPeriods, PayrollSummary, check_lines
from domain.people.identity import PersonReferences
from domain.people.index import PersonIndex
from domain.people.person import Person, PersonInput, identify
from domain.people.personal_data import PersonalDataAsCiphertext
from domain.regions import RegionCatalogue
from domain.relief import Relief, ReliefKind, ReviewOutcome
from domain.standards import Parameters, StandardSchedule, check_parameters

MAX_HOUSEHOLD = 30

register_moved_modules()


class Ledger(RecordingApplication):
    """Settings come from the environment: LEDGER_PERSONAL_DATA_KEY (base64 AES key),
    LEDGER_PERSON_REF_KEY (base64 HMAC key), LEDGER_REGION_CATALOGUE (optional file),
    LEDGER_RELIEF_CAP_MULTIPLE (default 6), LEDGER_GRADUAL_EXIT_MAX_MONTHS (default 6)."""

    name = "ledger"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        settings = Environment("ledger", {**os.environ, **dict(env or {})})
        self._cipher = AESCipher(
            Environment(env={"CIPHER_KEY": _required(settings, "LEDGER_PERSONAL_DATA_KEY")})
        )
        super().__init__(env)
        self.references = PersonReferences(
            base64.b64decode(_required(settings, "LEDGER_PERSON_REF_KEY"))
        )
        self.regions = RegionCatalogue.load(self.env.get("LEDGER_REGION_CATALOGUE"))
        self.relief_cap_multiple = Decimal(self.env.get("LEDGER_RELIEF_CAP_MULTIPLE", "6"))
        self.gradual_exit_max_months = int(self.env.get("LEDGER_GRADUAL_EXIT_MAX_MONTHS", "6"))

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MonthAsStr())
        transcoder.register(DateAsISO())
        transcoder.register(PersonalDataAsCiphertext(self._cipher))

    # Standards.

    def set_standard(
        self,
        programme: str,
        region: str,
        effective: str | Month,
        parameters: Mapping[str, object],
        *,
        actor: str,
        reason: str,
    ) -> Receipt:
        at = self._now()
        schedule, values, month = self._schedule_change(
            programme, region, effective, parameters, at
        )
        schedule.set(month, values, actor, reason, at)
        return Receipt(schedule.id, self._save(schedule))

    def correct_standard(
        self,
        programme: str,
        region: str,
        effective: str | Month,
        parameters: Mapping[str, object],
        *,
        actor: str,
        reason: str,
    ) -> Receipt:
        at = self._now()
        schedule, values, month = self._schedule_change(
            programme, region, effective, parameters, at
        )
        schedule.correct(month, values, actor, reason, at)
        return Receipt(schedule.id, self._save(schedule))

    def _schedule_change(
        self,
        programme: str,
        region: str,
        effective: str | Month,
        parameters: Mapping[str, object],
        at: datetime,
    ) -> tuple[StandardSchedule, Parameters, Month]:
        checked = parse_programme(programme)
        self.regions.check(region)
        values = check_parameters(checked, parameters)
        month = self._effective(effective, at)
        schedule = self._schedule(checked, region) or StandardSchedule.open(checked, region, at)
        return schedule, values, month

    def _schedule(self, programme: Programme, region: str) -> StandardSchedule | None:
        return self._load(StandardSchedule, StandardSchedule.id_for(programme, region))

    def standards_in_force(
        self, programme: Programme, region: str, month: Month
    ) -> Parameters | None:
        """The parameters in force as known now; a ``StandardsLookup``."""
        schedule = self._schedule(programme, region)
        return schedule.in_force(month) if schedule is not None else None

    # Cases.

    def grant(
        self,
        programme: str,
        region: str,
        effective: str | Month,
        persons: Sequence[PersonInput],
        *,
        actor: str,
        reason: str,
        income: object = None,
        area: str | None = None,
        tier: str | None = None,
        grade: int | None = None,
        care: str | None = None,
        case_id: UUID | None = None,
    ) -> Receipt:
        """Open a case. Dibao lists every household member; other programmes one person.
        Only an import supplies ``case_id``; otherwise a new one is made."""
        at = self._now()
        checked = _case_programme(programme)
        self.regions.check(region)
        people = self._identify(persons, household=checked.is_dibao)
        facts = CaseFacts(
            members=tuple(p.reference for p in people) if checked.is_dibao else (),
            income=require_money(income, "income") if income is not None else None,
            area=area,
            tier=tier,
            birth_date=people[0].birth_date
            if checked in (Programme.ELDERLY_ALLOWANCE, Programme.ORPHAN)
            else None,
            grade=grade,
            care=care,
        )
        check_facts(checked, facts)
        month = self._effective(effective, at)
        self._check_eligible(checked, region, facts, month)
        case = Case.grant(
            programme=checked,
            region=region,
            effective=month,
            facts=facts,
            persons=[p.to_event() for p in people],
            actor=actor,
            reason=reason,
            at=at,
            case_id=case_id,
        )
        end = orphan_last_month(facts) + 1 if checked is Programme.ORPHAN else None
        indexes = [self._person_index(p.reference, at) for p in people]
        for index in indexes:
            index.open(case.id, checked, month, end, at)
        return Receipt(case.id, self._save(case, *indexes))

    def _identify(self, persons: Sequence[PersonInput], *, household: bool) -> list[Person]:
        if not persons:
            raise InvalidInputError("a grant names at least one person", field="persons")
        if not household and len(persons) > 1:
            raise InvalidInputError("this programme is granted to one person", field="persons")
        if len(persons) > MAX_HOUSEHOLD:
            raise InvalidInputError(
                f"a household has at most {MAX_HOUSEHOLD} members", field="persons"
            )
        people = [identify(p, self.references) for p in persons]
        if len({p.reference for p in people}) != len(people):
            raise InvalidInputError("a household lists each member once", field="persons")
        return people

    def _check_eligible(
        self, programme: Programme, region: str, facts: CaseFacts, month: Month
    ) -> None:
        parameters = parameters_in_force(self.standards_in_force, programme, region, month)
        if (
            programme.is_dibao
            and facts.income is not None
            and (facts.income >= parameters["standard"])
        ):
            raise IncomeAboveStandardError(
                f"per-capita income {facts.income} is at or above the {programme} standard "
                f"{parameters['standard']} in force for {month}",
                field="income",
            )
        if programme is Programme.ELDERLY_ALLOWANCE and facts.birth_date is not None:
            first = first_month_aged(ELDERLY_FIRST_AGE, facts.birth_date)
            if month < first:
                raise NotEligibleError(
                    f"the elderly allowance starts from {first}, the first month the person "
                    f"is {ELDERLY_FIRST_AGE}",
                    field="effective",
                )
        if programme is Programme.ORPHAN:
            last = orphan_last_month(facts)
            if month > last:
                raise NotEligibleError(
                    f"the orphan allowance is paid through {last}, the month of the 18th birthday",
                    field="effective",
                )

    def _person_index(self, reference: str, at: datetime) -> PersonIndex:
        index = self._load(PersonIndex, PersonIndex.id_for(reference))
        return index if index is not None else PersonIndex.start(reference, at)

    def case(self, case_id: UUID, version: int | None = None) -> Case:
        """A case as it is now, or as it was at ``version``."""
        case = self._load(Case, case_id, version)
        if case is None:
            raise NotFoundError(f"no case {case_id}")
        return case

    def reassess(
        self,
        case_id: UUID,
        effective: str | Month,
        changes: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
    ) -> Receipt:
        at = self._now()
        case = self.case(case_id)
        allowed = REASSESSABLE_FACTS[case.programme]
        unknown = [name for name in changes if name not in allowed]
        if not changes or unknown:
            raise InvalidInputError(
                f"a {case.programme} reassessment changes " + (", ".join(allowed) or "nothing"),
                field="changes",
            )
        values = dict(changes)
        if "income" in values:
            values["income"] = require_money(values["income"], "income")
        month = self._effective(effective, at)
        before = case.month(month)
        check_facts(case.programme, (before.facts or CaseFacts()).updated(values))
        parameters_in_force(self.standards_in_force, case.programme, case.region, month)
        case.reassess(month, values, actor, reason, at)
        return Receipt(case.id, self._save(case))

    def suspend(self, case_id: UUID, effective: str | Month, *, actor: str, reason: str) -> Receipt:
        at = self._now()
        case = self.case(case_id)
        case.suspend(self._effective(effective, at), actor, reason, at)
        return Receipt(case.id, self._save(case))

    def resume(self, case_id: UUID, effective: str | Month, *, actor: str, reason: str) -> Receipt:
        at = self._now()
        case = self.case(case_id)
        case.resume(self._effective(effective, at), actor, reason, at)
        return Receipt(case.id, self._save(case))

    def start_gradual_exit(
        self, case_id: UUID, effective: str | Month, months: int, *, actor: str, reason: str
    ) -> Receipt:
        at = self._now()
        if not 1 <= months <= self.gradual_exit_max_months:
            raise InvalidInputError(
                f"a gradual exit lasts 1 to {self.gradual_exit_max_months} months",
                field="months",
            )
        case = self.case(case_id)
        case.start_gradual_exit(self._effective(effective, at), months, actor, reason, at)
        return Receipt(case.id, self._save(case, *self._end_holdings(case, at)))

    def exit(self, case_id: UUID, effective: str | Month, *, actor: str, reason: str) -> Receipt:
        at = self._now()
        case = self.case(case_id)
        case.exit(self._effective(effective, at), actor, reason, at)
        return Receipt(case.id, self._save(case, *self._end_holdings(case, at)))

    def _end_holdings(self, case: Case, at: datetime) -> list[PersonIndex]:
        end = case.closed_from
        indexes = [self._person_index(ref, at) for ref in case.person_refs]
        if end is not None:
            for index in indexes:
                index.end(case.id, end, at)
        return indexes

    def request_rescission(self, case_id: UUID, *, actor: str, reason: str) -> Receipt:
        at = self._now()
        case = self.case(case_id)
        case.request_rescission(actor, reason, at)
        return Receipt(case.id, self._save(case))

    def approve_rescission(self, case_id: UUID, *, actor: str, reason: str) -> Receipt:
        at = self._now()
        case = self.case(case_id)
        case.approve_rescission(actor, reason, at)
        indexes = [self._person_index(ref, at) for ref in case.person_refs]
        for index in indexes:
            index.release(case.id, at)
        return Receipt(case.id, self._save(case, *indexes))

    def monthly_amount(self, case_id: UUID, month: str | Month) -> Decimal:
        """A case's entitlement for ``month`` as known now."""
        case = self.case(case_id)
        state = case.month(parse_month(month))
        if not state.is_payable or state.facts is None or state.priced_month is None:
            return ZERO
        return monthly_amount(
            case.programme, case.region, state.facts, state.priced_month, self.standards_in_force
        )

    # Payroll periods.

    def close_period(
        self,
        programme: str,
        region: str,
        month: str | Month,
        position: int,
        lines: Sequence[PayrollLine],
        *,
        actor: str,
    ) -> Receipt:
        """Freeze what is paid for ``month``: ``lines`` as computed on the read side at
        ``position``."""
        at = self._now()
        checked = parse_programme(programme)
        self.regions.check(region)
        closing = parse_month(month)
        if closing > Month.at(at):
            raise EffectiveMonthError(f"{closing} cannot be closed before it begins", field="month")
        if not 0 <= position <= self.position:
            raise InvalidInputError(
                f"position {position} is not a ledger position (the ledger is at {self.position})",
                field="position",
            )
        check_lines(lines)
        periods = self._periods(checked, region) or PayrollPeriods.open(checked, region, at)
        periods.close(closing, position, PayrollSummary.of(lines), actor, at)
        return Receipt(periods.id, self._save(periods))

    def _periods(self, programme: Programme, region: str) -> PayrollPeriods | None:
        return self._load(PayrollPeriods, PayrollPeriods.id_for(programme, region))

    # Temporary relief.

    def grant_relief(
        self,
        region: str,
        area: str,
        kind: str,
        relief_date: date,
        household_size: int,
        amount: object,
        person: PersonInput,
        *,
        actor: str,
        reason: str,
        relief_id: UUID | None = None,
    ) -> Receipt:
        """Granted at once up to the cap, else requested for a second person's approval.
        Only an import supplies ``relief_id``."""
        at = self._now()
        self.regions.check(region)
        if area not in AREAS:
            raise InvalidInputError("area must be urban or rural", field="area")
        try:
            relief_kind = ReliefKind(kind)
        except ValueError:
            raise InvalidInputError(
                "relief kind must be emergency or expenditure", field="kind"
            ) from None
        if not 1 <= household_size <= MAX_HOUSEHOLD:
            raise InvalidInputError(
                f"household size is 1 to {MAX_HOUSEHOLD}", field="household_size"
            )
        self._effective(Month.containing(relief_date), at)
        if not reason.strip():
            raise InvalidInputError("a relief needs a reason", field="reason")
        money = require_money(amount, "amount")
        people = self._identify([person], household=False)
        standard = parameters_in_force(
            self.standards_in_force,
            dibao_programme_for(area),
            region,
            Month.containing(relief_date),
        )["standard"]
        cap = round_to_fen(self.relief_cap_multiple * standard * household_size)
        relief = Relief.ask(
            region=region,
            area=area,
            kind=relief_kind,
            relief_date=relief_date,
            household_size=household_size,
            amount=money,
            cap=cap,
            persons=[p.to_event() for p in people],
            actor=actor,
            reason=reason,
            at=at,
            relief_id=relief_id,
        )
        return Receipt(relief.id, self._save(relief))

    def relief(self, relief_id: UUID) -> Relief:
        relief = self._load(Relief, relief_id)
        if relief is None:
            raise NotFoundError(f"no relief {relief_id}")
        return relief

    def approve_relief(self, relief_id: UUID, *, actor: str, reason: str) -> Receipt:
        at = self._now()
        relief = self.relief(relief_id)
        relief.approve(actor, reason, at)
        return Receipt(relief.id, self._save(relief))

    def review_relief(self, relief_id: UUID, outcome: str, *, actor: str, reason: str) -> Receipt:
        at = self._now()
        try:
            checked = ReviewOutcome(outcome)
        except ValueError:
            raise InvalidInputError(
                "a review outcome is confirmed or rescinded", field="outcome"
            ) from None
        relief = self.relief(relief_id)
        relief.record_review(checked, actor, reason, at)
        return Receipt(relief.id, self._save(relief))


def _required(env: Environment, key: str) -> str:
    value = env.get(key)
    if not value:
        raise OSError(f"{key} is not set: the ledger needs it to protect personal data")
    return value


def _case_programme(text: str) -> Programme:
    programme = parse_programme(text)
    if programme not in CASE_PROGRAMMES:
        raise InvalidInputError(
            "temporary relief is granted as relief, not as a case", field="programme"
        )
    return programme

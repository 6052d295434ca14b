"""The command side: one eventsourcing Application that records every decision.

Every command validates first and saves once; a refused command raises a LedgerRefusal and
stores nothing. Each takes the unit of work its caller chose (``uow``: by default saved now,
by the server's clock), reads the aggregates it decides on through it and saves them with
it; the units of work are in ``domain.application.recording``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import Environment

from domain.ages import first_month_aged
from domain.application.household_verifications import (
    MAX_HOUSEHOLD,
    HouseholdVerifications,
    birth_dates,
)
from domain.application.moved_topics import register_moved_modules
from domain.application.recording import Receipt, UnitOfWork
from domain.application.transcodings import DateAsISO, MonthAsStr
from domain.cases.amounts import (
    ELDERLY_FIRST_AGE,
    StandardsLookup,
    monthly_amount,
    orphan_last_month,
    parameters_in_force,
)
from domain.cases.case import Case
from domain.cases.payee import BankReturn, Payee, PayeeInput, check_bank_card
from domain.cases.programmes import (
    AREAS,
    CASE_PROGRAMMES,
    MEMBERS_JOINING,
    MEMBERS_LEAVING,
    REASSESSABLE_FACTS,
    CaseFacts,
    Programme,
    check_facts,
    dibao_programme_for,
    parse_programme,
)
from domain.errors import (
    EffectiveMonthError,
    ExclusiveHoldingError,
    IncomeAboveStandardError,
    InvalidInputError,
    LedgerRefusal,
    NotEligibleError,
    NotFoundError,
    PeriodNotClosedError,
)
from domain.money import ZERO, require_money, round_to_fen
from domain.months import BUREAU_TIME_ZONE, Month, parse_month
from domain.payroll_periods import (
    LastClose,
    PayrollLine,
    PayrollPeriods,
    PayrollSummary,
    check_lines,
)
from domain.people.identity import IdentityNumber, PersonReferences
from domain.people.index import PersonIndex
from domain.people.person import (
    DEFAULT_MAX_AGE_YEARS,
    Person,
    PersonInput,
    check_lifetime,
    identify,
)
from domain.people.personal_data import PersonalData, PersonalDataAsCiphertext
from domain.regions import RegionCatalogue
from domain.relief import Relief, ReliefKind, ReviewOutcome
from domain.standards import Parameters, StandardSchedule, check_parameters

A = TypeVar("A")

register_moved_modules()


class Ledger(HouseholdVerifications):
    """Settings come from the environment: LEDGER_PERSONAL_DATA_KEY (base64 AES key),
    LEDGER_PERSON_REF_KEY (base64 HMAC key), LEDGER_REGION_CATALOGUE (optional file),
    LEDGER_RELIEF_CAP_MULTIPLE (default 6), LEDGER_GRADUAL_EXIT_MAX_MONTHS (default 6),
    LEDGER_MAX_AGE_YEARS (default 130: older people named in a decision are refused); and
    those of household verification (domain.application.household_verifications)."""

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
        self.max_age_years = int(self.env.get("LEDGER_MAX_AGE_YEARS", str(DEFAULT_MAX_AGE_YEARS)))

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
        correction: bool = False,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Set the parameters of a programme's schedule in a region from a month; each may
        only rise over time. With ``correction``, fix a mistaken entry instead (it may go
        down; the reason is kept for the auditors)."""
        uow = self._unit(uow)
        at = uow.time()
        checked = parse_programme(programme)
        self.regions.check(region)
        values = check_parameters(checked, parameters)
        month = self._effective(effective, at)
        schedule = self._schedule(checked, region, uow) or StandardSchedule.open(
            checked, region, at
        )
        record = schedule.correct if correction else schedule.set
        record(month, values, actor, reason, at)
        return Receipt(schedule.id, uow.save(schedule))

    def _schedule(
        self, programme: Programme, region: str, uow: UnitOfWork
    ) -> StandardSchedule | None:
        return uow.load(StandardSchedule, StandardSchedule.id_for(programme, region))

    def standards_in_force(
        self, programme: Programme, region: str, month: Month
    ) -> Parameters | None:
        """The parameters in force as known now; a ``StandardsLookup``."""
        schedule = self.stored(StandardSchedule, StandardSchedule.id_for(programme, region))
        return schedule.in_force(month) if schedule is not None else None

    def _standards(self, uow: UnitOfWork) -> StandardsLookup:
        """The parameters in force as a decision sees them (in an import, with the standards
        decided earlier in the batch)."""

        def in_force(programme: Programme, region: str, month: Month) -> Parameters | None:
            schedule = self._schedule(programme, region, uow)
            return schedule.in_force(month) if schedule is not None else None

        return in_force

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
        payee: PayeeInput | None = None,
        verification_id: UUID | None = None,
        income_reason: str | None = None,
        case_id: UUID | None = None,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Open a case. Dibao lists every household member; other programmes one person.
        A ``payee`` given is recorded with the grant (a case without one is paid at close
        like any other, and its line waits out of the bank's payment file until a payee is
        recorded). A dibao or tekun grant cites a verification of the household
        (``verification_id``); a declared ``income`` beyond the margin around the verified one
        needs ``income_reason``. Only an import supplies ``case_id``; otherwise a new one is
        made."""
        uow = self._unit(uow)
        at = uow.time()
        checked = _case_programme(programme)
        self.regions.check(region)
        people = self._identify(persons, household=checked.is_dibao)
        self._check_lifetimes(persons, people, at, [f"persons[{n}]" for n in range(len(people))])
        declared = require_money(income, "income") if income is not None else None
        citation = self._citation(
            checked,
            region,
            verification_id,
            at,
            household=[p.reference for p in people],
            birth_dates=[p.birth_date for p in people],
            case_id=case_id,
            effective=effective,
            area=area,
            declared=declared,
            income_reason=income_reason,
            uow=uow,
        )
        facts = CaseFacts(
            members=tuple(p.reference for p in people) if checked.is_dibao else (),
            income=citation.income
            if citation is not None and citation.income is not None
            else declared,
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
        self._check_eligible(checked, region, facts, month, uow)
        checked_payee = None
        if payee is not None:
            try:
                checked_payee = self._payee(payee, people[0].reference)
            except InvalidInputError as refusal:
                raise refusal.within("payee") from None
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
            verification=citation.event if citation is not None else None,
        )
        end = orphan_last_month(facts) + 1 if checked is Programme.ORPHAN else None
        indexes = [self._person_index(p.reference, at, uow) for p in people]
        for number, index in enumerate(indexes):
            who = f"person {number + 1} of the household" if len(people) > 1 else "the person"
            try:
                index.open(case.id, checked, month, end, at, who=who)
            except ExclusiveHoldingError as refusal:
                raise refusal.within(f"persons[{number}].identity_number") from None
        if checked_payee is not None:
            try:
                case.change_payee(checked_payee, actor, reason, at)
            except InvalidInputError as refusal:
                raise refusal.within("payee") from None
        return Receipt(case.id, uow.save(case, *indexes))

    def _payee(self, payee: PayeeInput, first_person: str) -> Payee:
        """The payee checked: a valid card number, and a recipient's identity number that
        is valid (whether they are a person of the case, the case checks)."""
        account = check_bank_card(payee.account, "account")
        recipient = first_person
        if payee.recipient is not None:
            try:
                recipient = self.references.reference(IdentityNumber.parse(payee.recipient))
            except InvalidInputError as refusal:
                refusal.field = "recipient"
                raise refusal from None
        return Payee(recipient, PersonalData(account))

    def change_payee(
        self,
        case_id: UUID,
        payee: PayeeInput,
        *,
        actor: str,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Record who is paid, and into which card, from now on. A case held after a
        return is paid again at the next close after this decision."""
        uow = self._unit(uow)
        at = uow.time()
        case = self._case(case_id, uow)
        case.change_payee(self._payee(payee, case.person_refs[0]), actor, reason, at)
        return Receipt(case.id, uow.save(case))

    def record_returns(
        self, returns: Sequence[BankReturn], *, actor: str, uow: UnitOfWork | None = None
    ) -> tuple[list[BankReturn], int]:
        """Record the bank's returns together, in one save: those not recorded before
        (the same period and case again changes nothing), and the ledger position after
        them. A return of a period its case's programme and region has not closed is
        refused, and then nothing of the others is recorded either."""
        uow = self._unit(uow)
        at = uow.time()
        cases: dict[UUID, Case] = {}
        recorded: list[BankReturn] = []
        for number, given in enumerate(returns):
            case = cases.get(given.case_id) or self._case(given.case_id, uow)
            cases[case.id] = case
            periods = self._periods(case.programme, case.region, uow)
            first = periods.first_closed if periods is not None else None
            last = periods.last_closed if periods is not None else None
            if first is None or last is None or not first <= given.period <= last:
                raise PeriodNotClosedError(
                    f"period {given.period} of {case.programme} {case.region} is not closed: "
                    "nothing of it went to the bank, so nothing of it can come back",
                    field=f"returns[{number}].period" if len(returns) > 1 else "period",
                )
            money = require_money(given.amount, "amount")
            if case.record_return(
                given.period, given.bank_reference, given.reason, money, actor, at
            ):
                recorded.append(given)
        changed = [case for case in cases.values() if case.pending_events]
        position = uow.save(*changed) if changed else self.position
        return recorded, position

    def _identify(self, persons: Sequence[PersonInput], *, household: bool) -> list[Person]:
        """The persons of a grant, each checked; a refusal names the one at fault by its
        place in the list (``persons[1].identity_number``)."""
        if not persons:
            raise InvalidInputError("a grant names at least one person", field="persons")
        if not household and len(persons) > 1:
            raise InvalidInputError("this programme is granted to one person", field="persons")
        if len(persons) > MAX_HOUSEHOLD:
            raise InvalidInputError(
                f"a household has at most {MAX_HOUSEHOLD} members", field="persons"
            )
        people = [_identified(p, self.references, f"persons[{n}]") for n, p in enumerate(persons)]
        first: dict[str, int] = {}
        for number, found in enumerate(people):
            if found.reference in first:
                raise InvalidInputError(
                    f"persons {first[found.reference] + 1} and {number + 1} are the same "
                    "person; a household lists each member once",
                    field=f"persons[{number}].identity_number",
                )
            first[found.reference] = number
        return people

    def _check_lifetimes(
        self,
        given: Sequence[PersonInput],
        people: Sequence[Person],
        at: datetime,
        fields: Sequence[str],
    ) -> None:
        """Each person was born by the decision's day (in the bureau's time zone) and is not
        older than the limit; a refusal names the person's field (``persons[1]...``)."""
        day = at.astimezone(BUREAU_TIME_ZONE).date()
        for entered, person, field in zip(given, people, fields, strict=True):
            named = "birth_date" if entered.birth_date is not None else "identity_number"
            check_lifetime(person.birth_date, day, self.max_age_years, field=f"{field}.{named}")

    def _check_eligible(
        self, programme: Programme, region: str, facts: CaseFacts, month: Month, uow: UnitOfWork
    ) -> None:
        parameters = parameters_in_force(self._standards(uow), programme, region, month)
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

    def _person_index(self, reference: str, at: datetime, uow: UnitOfWork) -> PersonIndex:
        index = uow.load(PersonIndex, PersonIndex.id_for(reference))
        return index if index is not None else PersonIndex.start(reference, at)

    def case(self, case_id: UUID, version: int | None = None) -> Case:
        """A case as it is now, or as it was at ``version``."""
        return _found(self.stored(Case, case_id, version), f"no case {case_id}")

    def _case(self, case_id: UUID, uow: UnitOfWork) -> Case:
        return _found(uow.load(Case, case_id), f"no case {case_id}")

    def reassess(
        self,
        case_id: UUID,
        effective: str | Month,
        changes: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        joining: Sequence[PersonInput] = (),
        leaving: Sequence[str] = (),
        verification_id: UUID | None = None,
        income_reason: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """New facts from a month. A dibao household may also change from that month:
        ``joining`` persons (checked like a grant's, and held in dibao from then on, so
        refused when they hold a case that excludes it) and members ``leaving``, named by
        their identity numbers (their dibao ends the month before). The per-capita income
        changes only when ``changes`` gives one. A dibao reassessment that changes the income
        or the members cites a verification of the household as it is from that month."""
        uow = self._unit(uow)
        at = uow.time()
        case = self._case(case_id, uow)
        allowed = REASSESSABLE_FACTS[case.programme]
        unknown = [name for name in changes if name not in allowed]
        if (not changes and not joining and not leaving) or unknown:
            raise InvalidInputError(
                f"a {case.programme} reassessment changes "
                + (", ".join(allowed) or "nothing")
                + (", or who is in the household" if case.programme.is_dibao else ""),
                field="changes",
            )
        values = dict(changes)
        month = self._effective(effective, at)
        before = case.month(month)
        try:
            if "income" in values:
                values["income"] = require_money(values["income"], "income")
            check_facts(case.programme, (before.facts or CaseFacts()).updated(values))
            joiners, leavers = self._membership_changes(case, joining, leaving, at)
        except InvalidInputError as refusal:
            raise refusal.within("changes") from None
        if joiners:
            values[MEMBERS_JOINING] = [p.to_event() for p in joiners]
        if leavers:
            values[MEMBERS_LEAVING] = leavers
        parameters_in_force(self._standards(uow), case.programme, case.region, month)
        case.check_reassessment(month, values)
        if len(before.members) + len(joiners) - len(leavers) > MAX_HOUSEHOLD:
            raise InvalidInputError(
                f"a household has at most {MAX_HOUSEHOLD} members", field="members_joining"
            )
        citation = None
        if case.programme.is_dibao and ("income" in values or joiners or leavers):
            staying = [ref for ref in before.members if ref not in leavers]
            citation = self._citation(
                case.programme,
                case.region,
                verification_id,
                at,
                household=[*staying, *(p.reference for p in joiners)],
                birth_dates=[*birth_dates(case, staying), *(p.birth_date for p in joiners)],
                case_id=case.id,
                effective=month,
                declared=values.get("income"),
                income_reason=income_reason,
                uow=uow,
            )
            if "income" in values and citation is not None and citation.income is not None:
                values["income"] = citation.income
        elif verification_id is not None:
            raise InvalidInputError(
                "only a dibao reassessment of the income or the members cites a verification",
                field="verification_id",
            )
        indexes = []
        for number, joiner in enumerate(joiners, start=1):
            index = self._person_index(joiner.reference, at, uow)
            who = f"joining member {number}"
            index.open(case.id, case.programme, month, case.closed_from, at, who=who)
            indexes.append(index)
        for reference in leavers:
            index = self._person_index(reference, at, uow)
            index.end(case.id, month, at)
            indexes.append(index)
        case.reassess(
            month, values, actor, reason, at, citation.event if citation is not None else None
        )
        return Receipt(case.id, uow.save(case, *indexes))

    def _membership_changes(
        self, case: Case, joining: Sequence[PersonInput], leaving: Sequence[str], at: datetime
    ) -> tuple[list[Person], list[str]]:
        """The persons joining, identified, and the references of the members leaving."""
        if not joining and not leaving:
            return [], []
        if not case.programme.is_dibao:
            raise InvalidInputError(
                "only a dibao household's members join or leave", field="members_joining"
            )
        if len(joining) > MAX_HOUSEHOLD or len(leaving) > MAX_HOUSEHOLD:
            raise InvalidInputError(
                f"a household has at most {MAX_HOUSEHOLD} members", field="members_joining"
            )
        fields = [f"members_joining[{number}]" for number in range(len(joining))]
        joiners = [
            _identified(person, self.references, field)
            for person, field in zip(joining, fields, strict=True)
        ]
        self._check_lifetimes(joining, joiners, at, fields)
        leavers = []
        for number, text in enumerate(leaving):
            try:
                leavers.append(self.references.reference(IdentityNumber.parse(text)))
            except InvalidInputError as refusal:
                refusal.field = f"members_leaving[{number}]"  # the item is the number itself
                raise refusal from None
        joining_refs = [p.reference for p in joiners]
        if len(set(joining_refs)) != len(joining_refs):
            raise InvalidInputError("a person joins the household once", field="members_joining")
        if len(set(leavers)) != len(leavers):
            raise InvalidInputError("a member leaves the household once", field="members_leaving")
        both = [n for n, ref in enumerate(joining_refs, start=1) if ref in leavers]
        if both:
            raise InvalidInputError(
                f"joining member {both[0]} is also leaving; a person either joins or leaves",
                field="members_joining",
            )
        return joiners, leavers

    def suspend(
        self,
        case_id: UUID,
        effective: str | Month,
        *,
        actor: str,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        case = self._case(case_id, uow)
        case.suspend(self._effective(effective, at), actor, reason, at)
        return Receipt(case.id, uow.save(case))

    def resume(
        self,
        case_id: UUID,
        effective: str | Month,
        *,
        actor: str,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        case = self._case(case_id, uow)
        case.resume(self._effective(effective, at), actor, reason, at)
        return Receipt(case.id, uow.save(case))

    def start_gradual_exit(
        self,
        case_id: UUID,
        effective: str | Month,
        months: int,
        *,
        actor: str,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        if not 1 <= months <= self.gradual_exit_max_months:
            raise InvalidInputError(
                f"a gradual exit lasts 1 to {self.gradual_exit_max_months} months",
                field="months",
            )
        case = self._case(case_id, uow)
        case.start_gradual_exit(self._effective(effective, at), months, actor, reason, at)
        return Receipt(case.id, uow.save(case, *self._end_holdings(case, at, uow)))

    def exit(
        self,
        case_id: UUID,
        effective: str | Month,
        *,
        actor: str,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        case = self._case(case_id, uow)
        case.exit(self._effective(effective, at), actor, reason, at)
        return Receipt(case.id, uow.save(case, *self._end_holdings(case, at, uow)))

    def _end_holdings(self, case: Case, at: datetime, uow: UnitOfWork) -> list[PersonIndex]:
        end = case.closed_from
        indexes = [self._person_index(ref, at, uow) for ref in case.person_refs]
        if end is not None:
            for index in indexes:
                index.end(case.id, end, at)
        return indexes

    def request_rescission(
        self, case_id: UUID, *, actor: str, reason: str, uow: UnitOfWork | None = None
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        case = self._case(case_id, uow)
        case.request_rescission(actor, reason, at)
        return Receipt(case.id, uow.save(case))

    def approve_rescission(
        self, case_id: UUID, *, actor: str, reason: str, uow: UnitOfWork | None = None
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        case = self._case(case_id, uow)
        case.approve_rescission(actor, reason, at)
        indexes = [self._person_index(ref, at, uow) for ref in case.person_refs]
        for index in indexes:
            index.release(case.id, at)
        return Receipt(case.id, uow.save(case, *indexes))

    def refuse_rescission(
        self, case_id: UUID, *, actor: str, reason: str, uow: UnitOfWork | None = None
    ) -> Receipt:
        uow = self._unit(uow)
        case = self._case(case_id, uow)
        case.refuse_rescission(actor, reason, uow.time())
        return Receipt(case.id, uow.save(case))

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
        previous: Month | None,
        actor: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Freeze what is paid for ``month``: ``lines`` as computed on the read side at
        ``position``, settling what changed since the close of ``previous``, the month this
        programme and region closed last (None: the first close). Lines computed after
        another close than the last one are refused: they would settle arrears twice."""
        uow = self._unit(uow)
        at = uow.time()
        checked = parse_programme(programme)
        self.regions.check(region)
        closing = parse_month(month)
        if closing > Month.at(at):
            raise EffectiveMonthError(f"{closing} cannot be closed before it begins", field="month")
        if not self.reached(position):
            raise InvalidInputError(
                f"position {position} is not a ledger position (the ledger is at {self.position})",
                field="position",
            )
        check_lines(lines)
        periods = self._periods(checked, region, uow) or PayrollPeriods.open(checked, region, at)
        periods.close(closing, position, previous, PayrollSummary.of(lines), actor, at)
        return Receipt(periods.id, uow.save(periods))

    def last_close(
        self, programme: str, region: str, uow: UnitOfWork | None = None
    ) -> LastClose | None:
        """The latest close of ``programme`` in ``region`` as a decision sees it (in an
        import, with the closes decided earlier in the batch); None: none yet."""
        periods = self._periods(parse_programme(programme), region, self._unit(uow))
        return periods.last_close if periods is not None else None

    def _periods(self, programme: Programme, region: str, uow: UnitOfWork) -> PayrollPeriods | None:
        return uow.load(PayrollPeriods, PayrollPeriods.id_for(programme, region))

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
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        """Granted at once up to the cap, else requested for a second person's approval.
        Only an import supplies ``relief_id``."""
        uow = self._unit(uow)
        at = uow.time()
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
        people = [_identified(person, self.references, "person")]
        self._check_lifetimes([person], people, at, ["person"])
        standard = parameters_in_force(
            self._standards(uow),
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
        return Receipt(relief.id, uow.save(relief))

    def relief(self, relief_id: UUID, version: int | None = None) -> Relief:
        """A relief as it is now, or as it was at ``version``."""
        return _found(self.stored(Relief, relief_id, version), f"no relief {relief_id}")

    def _relief(self, relief_id: UUID, uow: UnitOfWork) -> Relief:
        return _found(uow.load(Relief, relief_id), f"no relief {relief_id}")

    def approve_relief(
        self, relief_id: UUID, *, actor: str, reason: str, uow: UnitOfWork | None = None
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        relief = self._relief(relief_id, uow)
        relief.approve(actor, reason, at)
        return Receipt(relief.id, uow.save(relief))

    def refuse_relief(
        self, relief_id: UUID, *, actor: str, reason: str, uow: UnitOfWork | None = None
    ) -> Receipt:
        uow = self._unit(uow)
        relief = self._relief(relief_id, uow)
        relief.refuse(actor, reason, uow.time())
        return Receipt(relief.id, uow.save(relief))

    def review_relief(
        self,
        relief_id: UUID,
        outcome: str,
        *,
        actor: str,
        reason: str,
        uow: UnitOfWork | None = None,
    ) -> Receipt:
        uow = self._unit(uow)
        at = uow.time()
        try:
            checked = ReviewOutcome(outcome)
        except ValueError:
            raise InvalidInputError(
                "a review outcome is confirmed or rescinded", field="outcome"
            ) from None
        relief = self._relief(relief_id, uow)
        relief.record_review(checked, actor, reason, at)
        return Receipt(relief.id, uow.save(relief))


def _required(env: Environment, key: str) -> str:
    value = env.get(key)
    if not value:
        raise OSError(f"{key} is not set: the ledger needs it to protect personal data")
    return value


def _found(aggregate: A | None, missing: str) -> A:
    if aggregate is None:
        raise NotFoundError(missing)
    return aggregate


def _identified(person: PersonInput, references: PersonReferences, field: str) -> Person:
    """``person`` identified; a refusal names its field inside ``field`` (``persons[1]``)."""
    try:
        return identify(person, references)
    except LedgerRefusal as refusal:
        raise refusal.within(field) from None


def _case_programme(text: str) -> Programme:
    programme = parse_programme(text)
    if programme not in CASE_PROGRAMMES:
        raise InvalidInputError(
            "temporary relief is granted as relief, not as a case", field="programme"
        )
    return programme

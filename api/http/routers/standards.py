from __future__ import annotations

from fastapi import APIRouter, status

from api.http.deps import KnowledgeDep, RuntimeDep, Staff
from api.http.problems import PROBLEM_RESPONSES
from api.http.schemas import (
    Recorded,
    StandardChangePublic,
    StandardEntryPublic,
    StandardsPublic,
)
from api.http.writes import FinanceWriter
from api.services import decisions
from api.services.decisions import StandardIn
from api.services.fields import AnyProgramme, RegionCode
from domain.cases.programmes import STANDARD_PARAMETERS
from domain.errors import InvalidInputError
from projections.reads import standards

router = APIRouter(prefix="/standards", tags=["standards"], responses=PROBLEM_RESPONSES)


@router.get("/{programme}/{region}")
def read_standards(
    programme: AnyProgramme,
    region: RegionCode,
    runtime: RuntimeDep,
    user: Staff,
    knowledge: KnowledgeDep,
) -> StandardsPublic:
    """The standard in force in ``as_of`` (default: this month), every entry of the schedule
    by effective month, and the history of its sets and corrections with who made each, why,
    the month it takes effect from, and when and at which position it was recorded; all as
    known at the time or position asked for (default: now)."""
    ledger = runtime.ledger
    name = ledger.regions.names[ledger.regions.check(region)]
    if programme not in STANDARD_PARAMETERS:
        raise InvalidInputError(f"{programme} has no standards schedule", field="programme")
    found = standards.schedule(
        ledger.recorder,
        ledger.mapper,
        knowledge.views,
        programme,
        region,
        knowledge.as_of,
        knowledge.position,
    )
    return StandardsPublic(
        programme=programme,
        region=region,
        region_name=name,
        as_of=str(found.as_of),
        position=found.position,
        in_force=_entry(found.in_force) if found.in_force else None,
        entries=[_entry(entry) for entry in found.entries],
        history=[
            StandardChangePublic(
                kind="corrected" if change.kind == "corrected" else "set",
                effective=str(change.effective),
                parameters=change.parameters,
                actor=change.actor,
                reason=change.reason,
                recorded_at=change.recorded_at,
                position=change.position,
            )
            for change in found.history
        ],
    )


def _entry(entry: standards.StandardEntry) -> StandardEntryPublic:
    return StandardEntryPublic(
        effective=str(entry.effective), parameters=entry.parameters, position=entry.position
    )


@router.post("/{programme}/{region}", status_code=status.HTTP_201_CREATED)
def set_standard(
    programme: AnyProgramme, region: RegionCode, body: StandardIn, write: FinanceWriter
) -> Recorded:
    """Set a standard from a month; every parameter may only rise over time."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.set_standard(
            ledger, programme, region, body, correction=False, actor=actor, uow=uow
        ),
    )


@router.post("/{programme}/{region}/corrections", status_code=status.HTTP_201_CREATED)
def correct_standard(
    programme: AnyProgramme, region: RegionCode, body: StandardIn, write: FinanceWriter
) -> Recorded:
    """Correct a mistaken entry (it may go down); the reason is kept for the auditors."""
    return write(
        body,
        lambda ledger, actor, uow: decisions.set_standard(
            ledger, programme, region, body, correction=True, actor=actor, uow=uow
        ),
    )

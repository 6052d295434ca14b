"""``ledger import``: load a decisions file, checked whole before anything is stored.

First every line is read and checked on its own and against the lines before it (its
shape, identity numbers, regions, programmes, that times never go back, that a case or
relief is named before it is referred to). If any line is bad, every bad line is reported
with its number and reason and nothing is stored. Then the decisions are recorded with
their original times, saved in batches together with how far the file has come, so an
interrupted import resumes after the last saved line and records nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from api.services import decisions, household_checks
from api.services.bank_returns import ReturnGiven, record_returns
from api.services.closing import close_period
from api.services.import_format import (
    ApproveRelief,
    ChangePayee,
    ClosePeriod,
    DatedCaseDecision,
    Decision,
    GradualExit,
    Grant,
    GrantRelief,
    Line,
    Reassess,
    Rescission,
    ReturnPayment,
    ReviewRelief,
    SetStandard,
    VerifyHousehold,
    key_id,
)
from domain.application.ledger import Ledger
from domain.application.recording import ImportBatch, UnitOfWork
from domain.cases.programmes import parse_programme
from domain.errors import LedgerRefusal
from domain.months import BUREAU_TIME_ZONE, Month
from domain.people.identity import IdentityNumber
from domain.people.index import PersonIndex
from domain.people.person import check_lifetime
from projections.engine.batch_gc import rare_collections
from projections.engine.projector import Projector
from projections.reads.payroll_lines import ComputedItems, returned_subjects
from projections.storage.database import ViewDatabase

FLUSH_EVERY = 2_000
LOOK_AHEAD = 2_000  # lines parsed ahead of their decisions (``_parsed_ahead``)
# Events a projection batch of the import takes: the views catch up before each run of
# closes, a month of decisions at a time, in as few transactions as memory allows.
CATCH_UP_BATCH = 10_000
L = TypeVar("L", Grant, Reassess)
MAX_REPORTED = 50
_decision = TypeAdapter(Decision)


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str


class BadFileError(Exception):
    def __init__(self, bad: list[BadLine]) -> None:
        super().__init__(f"{len(bad)} bad lines; nothing was stored")
        self.bad = bad


class ImportFailedError(Exception):
    def __init__(self, number: int, reason: str) -> None:
        super().__init__(
            f"line {number}: {reason}; the lines before it are stored, run the import again "
            "after fixing it to resume"
        )
        self.number = number


@dataclass(frozen=True)
class ImportResult:
    lines: int
    imported: int
    already_imported: int
    position: int


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as file:
        for number, text in enumerate(file, start=1):
            if text.strip():
                yield number, text


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(ledger: Ledger, path: Path, after_line: int = 0) -> int:
    """Check every line; raise BadFileError naming the bad ones. The number of lines."""
    bad: list[BadLine] = []
    latest = ledger.latest_recorded_time()
    named: set[str] = set()
    count = 0
    previous: datetime | None = None
    for number, text in numbered_lines(path):
        count = number
        try:
            line = _decision.validate_json(text)
            _check_line(ledger, line, named)
        except ValidationError as error:
            bad.append(BadLine(number, _explain(error)))
            continue
        except LedgerRefusal as refusal:
            where = f"{refusal.field}: " if refusal.field else ""
            bad.append(BadLine(number, f"{where}{refusal.message}"))
            continue
        if previous is not None and line.at < previous:
            bad.append(
                BadLine(number, f"its time {line.at.isoformat()} is before the line's before")
            )
        if number > after_line and latest is not None and line.at < latest:
            bad.append(
                BadLine(
                    number, f"its time is before the latest stored decision ({latest.isoformat()})"
                )
            )
        previous = line.at
        if len(bad) >= MAX_REPORTED:
            break
    if bad:
        raise BadFileError(bad)
    return count


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc'][1:]) or 'line'}: {item['msg']}"
        for item in error.errors()
    )


def _field(line: Line, name: str) -> Any:
    """The line's field ``name``; None when its kind has none. (A pydantic model answers
    ``getattr`` for a name it lacks by raising an error, which takes longer than parsing
    the line.)"""
    return line.__dict__.get(name)


def _check_line(ledger: Ledger, line: Line, named: set[str]) -> None:
    region = _field(line, "region")
    if region is not None:
        ledger.regions.check(region)
    programme = _field(line, "programme")
    if programme is not None:
        parse_programme(programme)
    day = line.at.astimezone(BUREAU_TIME_ZONE).date()
    persons = [(f"persons[{n}]", p) for n, p in enumerate(_field(line, "persons") or [])]
    if (person := _field(line, "person")) is not None:
        persons.append(("person", person))
    if isinstance(line, Reassess):
        joining = line.changes.members_joining or []
        persons += [(f"changes.members_joining[{n}]", p) for n, p in enumerate(joining)]
        for n, leaving in enumerate(line.changes.members_leaving or ()):
            try:
                IdentityNumber.parse(leaving)
            except LedgerRefusal as refusal:
                refusal.field = f"changes.members_leaving[{n}]"  # the item is the number
                raise refusal from None
    for field, person in persons:
        try:
            number = IdentityNumber.parse(person.identity_number, birth_date=person.birth_date)
        except LedgerRefusal as refusal:
            raise refusal.within(field) from None
        source = "birth_date" if person.birth_date is not None else "identity_number"
        check_lifetime(number.birth_date, day, ledger.max_age_years, field=f"{field}.{source}")
    if isinstance(line, Grant):
        named.add(f"case:{line.case}")
    elif isinstance(line, GrantRelief):
        named.add(f"relief:{line.relief}")
    elif isinstance(line, VerifyHousehold):
        for n, verified in enumerate(line.members):
            try:
                IdentityNumber.parse(verified.identity_number)
            except LedgerRefusal as refusal:
                raise refusal.within(f"members[{n}]") from None
        named.add(f"verification:{line.verification}")
    for kind in ("case", "relief", "verification"):
        key = _field(line, kind)
        if key is not None and f"{kind}:{key}" not in named and not _exists(ledger, kind, key):
            raise LedgerRefusal(f"{kind} {key!r} is not granted earlier in the file or the ledger")
        if key is not None:
            named.add(f"{kind}:{key}")


def _exists(ledger: Ledger, kind: str, key: str) -> bool:
    found: dict[str, Callable[[UUID], object]] = {
        "case": ledger.case,
        "relief": ledger.relief,
        "verification": ledger.verification,
    }
    try:
        found[kind](key_id(kind, key))
    except LedgerRefusal:
        return False
    return True


def import_file(
    ledger: Ledger,
    views: ViewDatabase,
    path: Path,
    progress: Callable[[int], None] = lambda _: None,
) -> ImportResult:
    """Check the whole file, then record its decisions (resuming after what was saved)."""
    digest = file_digest(path)
    done = ledger.imported_through(digest)
    lines = sum(1 for _ in numbered_lines(path))
    if done >= lines:
        return ImportResult(lines, 0, done, ledger.position)
    total = check_file(ledger, path, after_line=done)
    with rare_collections():
        # What the import holds is let go when _record_lines returns, inside the block.
        imported = _record_lines(ledger, views, path, digest, done, progress)
    progress(total)
    return ImportResult(total, imported, done, ledger.position)


def _record_lines(
    ledger: Ledger,
    views: ViewDatabase,
    path: Path,
    digest: str,
    done: int,
    progress: Callable[[int], None],
) -> int:
    """Record the decisions of the file's lines after line ``done``; how many."""
    # The closes' items, computed once: by the close, then recorded by this projector.
    computed = ComputedItems()
    projector = Projector(
        ledger.recorder, ledger.mapper, views, batch_size=CATCH_UP_BATCH, computed=computed
    )
    imported = 0
    run_before: type[Line] | None = None
    closed_in_run: set[tuple[str, str]] = set()
    last: tuple[int, datetime] | None = None  # the line applied last, and its time
    saved_at: int | None = None  # the ledger's position after the last save

    with ImportBatch(ledger, saved=projector.offer) as batch:

        def save() -> None:
            """Save what was imported, with how far the file has come, at its last line's
            time."""
            nonlocal saved_at
            if last is not None:
                ledger.record_import_progress(digest, last[0], batch.at(last[1]))
            saved_at = batch.flush()

        def views_at() -> int | None:
            """Where the views are known to hold everything saved: where this projector
            took them. None when another projector took the last batches (the close then
            waits for the views to reach the ledger)."""
            if saved_at is not None and projector.reached >= saved_at:
                return saved_at
            return None

        after_done = ((number, text) for number, text in numbered_lines(path) if number > done)
        for number, line in _parsed_ahead(ledger, batch, after_done):
            run = type(line) if isinstance(line, ClosePeriod | ReturnPayment) else None
            if run != run_before:
                # A run of closes (or of the bank's returns) begins or ends here. Its lines
                # are all computed at one position, from views that have every decision
                # before the run; what each close settles counts from the close before it,
                # though that one may be in the run, not yet in the views (``close_period``
                # sees to it). Returns read the lines of the periods they return. The
                # decisions after a run read no views: they join its batch, saved at the
                # next save.
                closed_in_run.clear()
                if run is not None:
                    save()
                    projector.catch_up()
            elif isinstance(line, ClosePeriod) and _needs_closes_before(views, line, closed_in_run):
                # A case with a return is settled from its own lines, which the views hold
                # only once the close before this one is projected.
                save()
                projector.catch_up()
            if isinstance(line, ClosePeriod):
                closed_in_run.add((line.programme.value, line.region))
            try:
                apply(ledger, views, line, batch.at(line.at), computed, views_at())
            except LedgerRefusal as refusal:
                raise ImportFailedError(number, refusal.message) from None
            imported += 1
            last = (number, line.at)
            run_before = run
            # Not within a run: its lines are computed at the position where it began, and
            # a save would move the ledger past the views.
            if run is None and imported % FLUSH_EVERY == 0:
                save()
                progress(number)
        save()
    return imported


def _parsed_ahead(
    ledger: Ledger, batch: ImportBatch, lines: Iterator[tuple[int, str]]
) -> Iterator[tuple[int, Line]]:
    """``lines`` parsed, a chunk ahead of the decisions: the aggregates that the chunk's
    decisions look for and mostly do not find (``_mostly_new``) are asked about in one query
    first (``ImportBatch.expect``), not in a lookup each."""
    while chunk := [(n, _decision.validate_json(text)) for n, text in islice(lines, LOOK_AHEAD)]:
        batch.expect(i for _, line in chunk for i in _mostly_new(ledger, line))
        yield from chunk


def _mostly_new(ledger: Ledger, line: Line) -> list[UUID]:
    """What ``line``'s decision looks for that is mostly not stored yet: a verification's
    own aggregate, and the person indexes of those a grant or a verification names."""
    if isinstance(line, VerifyHousehold):
        numbers = [IdentityNumber.parse(member.identity_number) for member in line.members]
        own = [key_id("verification", line.verification)]
    elif isinstance(line, Grant):
        numbers = [
            IdentityNumber.parse(p.identity_number, birth_date=p.birth_date) for p in line.persons
        ]
        own = []
    else:
        return []
    return own + [PersonIndex.id_for(ledger.references.reference(n)) for n in numbers]


def _needs_closes_before(
    views: ViewDatabase, line: ClosePeriod, closed_in_run: set[tuple[str, str]]
) -> bool:
    schedule = (line.programme.value, line.region)
    return schedule in closed_in_run and bool(returned_subjects(views, *schedule, 2**62))


def apply(
    ledger: Ledger,
    views: ViewDatabase,
    line: Line,
    uow: UnitOfWork,
    computed: ComputedItems | None = None,
    views_at: int | None = None,
) -> None:
    """Record one decision of the file, as the HTTP service records a request's; a close
    keeps its items in ``computed`` for the projector, and is computed at ``views_at``,
    the position the views were projected to, when given."""
    actor = line.actor
    if isinstance(line, SetStandard):
        correction = line.decision == "correct_standard"
        decisions.set_standard(
            ledger, line.programme, line.region, line, correction=correction, actor=actor, uow=uow
        )
    elif isinstance(line, Grant):
        decisions.grant(
            ledger, _citing(line), actor=actor, uow=uow, case_id=key_id("case", line.case)
        )
    elif isinstance(line, Reassess):
        decisions.reassess(ledger, key_id("case", line.case), _citing(line), actor=actor, uow=uow)
    elif isinstance(line, VerifyHousehold):
        verification = line
        if line.case is not None:
            verification = line.model_copy(update={"case_id": key_id("case", line.case)})
        household_checks.record_verification(
            ledger,
            verification,
            actor=actor,
            uow=uow,
            verification_id=key_id("verification", line.verification),
        )
    elif isinstance(line, DatedCaseDecision):
        record = {
            "suspend": decisions.suspend,
            "resume": decisions.resume,
            "exit": decisions.exit_case,
        }[line.decision]
        record(ledger, key_id("case", line.case), line, actor=actor, uow=uow)
    elif isinstance(line, GradualExit):
        decisions.start_gradual_exit(ledger, key_id("case", line.case), line, actor=actor, uow=uow)
    elif isinstance(line, Rescission):
        rescind = (
            decisions.request_rescission
            if line.decision == "request_rescission"
            else decisions.approve_rescission
        )
        rescind(ledger, key_id("case", line.case), line, actor=actor, uow=uow)
    elif isinstance(line, GrantRelief):
        decisions.grant_relief(
            ledger, line, actor=actor, uow=uow, relief_id=key_id("relief", line.relief)
        )
    elif isinstance(line, ApproveRelief):
        decisions.approve_relief(ledger, key_id("relief", line.relief), line, actor=actor, uow=uow)
    elif isinstance(line, ReviewRelief):
        decisions.review_relief(ledger, key_id("relief", line.relief), line, actor=actor, uow=uow)
    elif isinstance(line, ChangePayee):
        decisions.change_payee(ledger, key_id("case", line.case), line, actor=actor, uow=uow)
    elif isinstance(line, ReturnPayment):
        given = ReturnGiven(
            Month.parse(line.month),
            key_id("case", line.case),
            line.bank_reference,
            line.reason_code,
        )
        record_returns(ledger, views, [given], actor=actor, uow=uow)
    elif isinstance(line, ClosePeriod):
        close_period(
            ledger,
            views,
            line.programme,
            line.region,
            Month.parse(line.month),
            actor=actor,
            uow=uow,
            computed=computed,
            views_at=views_at,
        )


def _citing(line: L) -> L:
    """The line with the verification its file names by key, by id."""
    if line.verification is None:
        return line
    return line.model_copy(update={"verification_id": key_id("verification", line.verification)})

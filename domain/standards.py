"""Standards schedules: per programme and region, parameters in force from an effective month.

Read in effective-month order, every parameter of a schedule never decreases. A mistaken
entry is fixed by a correction, which needs a reason and may go down.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.cases.programmes import STANDARD_PARAMETERS, Programme
from domain.errors import InvalidInputError, NotFoundError, StandardNotRaisedError
from domain.money import require_money
from domain.months import Month

_SCHEDULE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:social-assistance-ledger:standards")

Parameters = dict[str, Decimal]


def check_parameters(programme: Programme, parameters: Mapping[str, object]) -> Parameters:
    """Every parameter of the programme, each a non-negative amount, and no other."""
    expected = STANDARD_PARAMETERS.get(programme)
    if expected is None:
        raise InvalidInputError(f"{programme} has no standards schedule", field="programme")
    missing = [name for name in expected if name not in parameters]
    unknown = [name for name in parameters if name not in expected]
    if missing or unknown:
        raise InvalidInputError(
            f"{programme} standards take exactly {', '.join(expected)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else ""),
            field="parameters",
        )
    return {name: require_money(parameters[name], f"parameters.{name}") for name in expected}


class StandardSchedule(Aggregate):
    class Event(Aggregate.Event):
        pass

    class Opened(Event, Aggregate.Created):
        programme: str
        region: str

    class StandardSet(Event):
        programme: str
        region: str
        effective: Month
        parameters: dict[str, Decimal]
        actor: str
        reason: str

        def apply(self, schedule: StandardSchedule) -> None:
            schedule._put(self.effective, self.parameters)

    class StandardCorrected(StandardSet):
        pass

    def __init__(self, programme: str, region: str) -> None:
        self.programme = Programme(programme)
        self.region = region
        self.months: list[Month] = []  # sorted effective months
        self.entries: dict[Month, Parameters] = {}

    def __str__(self) -> str:
        return f"the {self.programme} standards of region {self.region}"

    @staticmethod
    def id_for(programme: Programme, region: str) -> UUID:
        return uuid5(_SCHEDULE_NAMESPACE, f"{programme.value}/{region}")

    @classmethod
    def open(cls, programme: Programme, region: str, at: datetime) -> StandardSchedule:
        return cls._create(
            cls.Opened,
            id=cls.id_for(programme, region),
            programme=programme.value,
            region=region,
            timestamp=at,
        )

    def in_force(self, month: Month) -> Parameters | None:
        at = bisect_right(self.months, month)
        return self.entries[self.months[at - 1]] if at else None

    def set(
        self, effective: Month, parameters: Parameters, actor: str, reason: str, at: datetime
    ) -> None:
        replaced = self.entries.get(effective)
        if replaced is not None:
            lower = [n for n, v in parameters.items() if v < replaced[n]]
            if lower or parameters == replaced:
                raise StandardNotRaisedError(
                    f"a {self.programme} standard for {effective} is already set; a second one "
                    "replaces it only by raising at least one parameter and lowering none"
                    + (f" ({', '.join(lower)} would go down)" if lower else "")
                )
        else:
            before = self.in_force(effective - 1)
            for name, value in (before or {}).items():
                if parameters[name] < value:
                    raise StandardNotRaisedError(
                        f"{name} {parameters[name]} is below the {value} in force before "
                        f"{effective}; standards are only raised (use a correction to fix "
                        "a mistake)"
                    )
        for later in self.months[bisect_right(self.months, effective) :]:
            for name, value in self.entries[later].items():
                if parameters[name] > value:
                    raise StandardNotRaisedError(
                        f"{name} {parameters[name]} is above the {value} set from {later}; "
                        "standards never decrease over time"
                    )
        self.trigger_event(
            self.StandardSet,
            programme=self.programme.value,
            region=self.region,
            effective=effective,
            parameters=parameters,
            actor=actor,
            reason=reason,
            timestamp=at,
        )

    def correct(
        self, effective: Month, parameters: Parameters, actor: str, reason: str, at: datetime
    ) -> None:
        if effective not in self.entries:
            raise NotFoundError(
                f"no {self.programme} standard for region {self.region} takes effect in "
                f"{effective}; a correction fixes an existing entry"
            )
        if not reason.strip():
            raise InvalidInputError("a correction needs a reason", field="reason")
        self.trigger_event(
            self.StandardCorrected,
            programme=self.programme.value,
            region=self.region,
            effective=effective,
            parameters=parameters,
            actor=actor,
            reason=reason,
            timestamp=at,
        )

    def _put(self, effective: Month, parameters: Parameters) -> None:
        if effective not in self.entries:
            self.months.insert(bisect_right(self.months, effective), effective)
        self.entries[effective] = dict(parameters)

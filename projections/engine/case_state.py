"""What the projection keeps of a case between batches: its decisions, as plain JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.cases.fold import Decision, DecisionKind
from domain.cases.programmes import Programme
from domain.months import Month

_DECODERS: dict[str, Any] = {"income": Decimal, "birth_date": date.fromisoformat}


@dataclass
class CaseState:
    programme: Programme
    region: str
    decisions: list[Decision] = field(default_factory=list)
    rescinded: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "decisions": [
                    [d.kind.value, d.effective.index, d.position, _encode(d.changes), d.months]
                    for d in self.decisions
                ],
                "rescinded": self.rescinded,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, programme: str, region: str, text: str) -> CaseState:
        data = json.loads(text)
        decisions = [
            Decision(DecisionKind(kind), Month(effective), position, _decode(changes), months)
            for kind, effective, position, changes, months in data["decisions"]
        ]
        return cls(Programme(programme), region, decisions, bool(data["rescinded"]))


def _encode(changes: tuple[tuple[str, Any], ...]) -> list[list[Any]]:
    return [
        [name, value if isinstance(value, int | list) else str(value)] for name, value in changes
    ]


def _decode(changes: list[list[Any]]) -> tuple[tuple[str, Any], ...]:
    return tuple((name, _DECODERS.get(name, _same)(value)) for name, value in changes)


def _same(value: Any) -> Any:
    return value

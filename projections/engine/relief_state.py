"""What the projection keeps of a temporary relief between batches, as plain JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.months import Month


@dataclass(frozen=True)
class ReliefState:
    relief_date: date
    amount: Decimal
    kind: str

    @property
    def month(self) -> Month:
        return Month.containing(self.relief_date)

    def to_json(self) -> str:
        return json.dumps(
            {"date": self.relief_date.isoformat(), "amount": str(self.amount), "kind": self.kind}
        )

    @classmethod
    def from_json(cls, text: str) -> ReliefState:
        data = json.loads(text)
        return cls(date.fromisoformat(data["date"]), Decimal(data["amount"]), data["kind"])

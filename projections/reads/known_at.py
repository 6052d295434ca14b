"""What a reader asks to know: ``known_at`` (a date or a timestamp) or ``known_at_position``,
and the ledger position that answers it.

The HTTP query parameters and the command line's options both come here, so that the same
text reads at the same position everywhere:

- a date is written YYYY-MM-DD and means everything recorded before 00:00 of the next day in
  the bureau's time zone (Asia/Shanghai): the whole day, as the bureau lived it;
- a timestamp is an ISO 8601 date and time, ``2019-08-31T18:00:00+08:00``, and must carry
  its time zone: a bare clock time means different instants to a bureau and a server abroad;
- a position is one the ledger has reached; the views are waited for until they reach it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING

from domain.months import BUREAU_TIME_ZONE
from projections.storage.record_time import microseconds

if TYPE_CHECKING:
    from projections.reads.read_side import ReadSide

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
WAIT_SECONDS = 5.0


class KnownAtError(ValueError):
    """A ``known_at`` or ``known_at_position`` a reader cannot use: ``parameter`` names the
    one at fault (None when it is the two together), ``reason`` says why."""

    def __init__(self, parameter: str | None, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}" if parameter else reason)
        self.parameter = parameter
        self.reason = reason


def parse_known_at(text: str) -> date | datetime:
    """A date (YYYY-MM-DD) or a timestamp with its time zone, within years 1 to 9999."""
    moment: date | datetime
    try:
        if _DATE.fullmatch(text):
            moment = date.fromisoformat(text)
        elif _TIMESTAMP.match(text):
            moment = datetime.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError:
        raise KnownAtError(
            "known_at", "a date YYYY-MM-DD or a timestamp with its time zone"
        ) from None
    if isinstance(moment, datetime) and moment.tzinfo is None:
        raise KnownAtError("known_at", "a timestamp needs its time zone")
    recorded_by(moment)  # refused here, by name, when it is out of the calendar's range
    return moment


def recorded_by(moment: date | datetime) -> tuple[int, bool]:
    """The record time (microseconds) that ``moment`` reaches, and whether it reaches it
    inclusively: a timestamp includes its instant, a date stops before the next midnight.
    A moment whose instant falls outside the years 1 to 9999 (9999-12-31, whose next
    midnight is, or 0001-01-01T00:00:00+14:00, still in year 0 in UTC) is refused."""
    try:
        if isinstance(moment, datetime):
            if moment.tzinfo is None:
                raise KnownAtError("known_at", "a timestamp needs its time zone")
            return microseconds(moment), True
        midnight = datetime.combine(moment + timedelta(days=1), clock_time(0))
        return microseconds(midnight.replace(tzinfo=BUREAU_TIME_ZONE)), False
    except OverflowError:
        raise KnownAtError(
            "known_at", f"{moment.isoformat()} is out of range: give a time from year 1 to 9999"
        ) from None


def reach(read: ReadSide, parameter: str, position: int, recorded: Callable[[], int]) -> None:
    """Wait until the views reach ``position``, which the ledger (at ``recorded()``) must
    have reached; ``parameter`` is named if it has not."""
    if position > (last := recorded()):
        raise KnownAtError(parameter, f"the ledger has reached position {last} only")
    read.wait_for(position, timeout=WAIT_SECONDS)


@dataclass(frozen=True)
class KnownAt:
    """As known at a moment, or at a ledger position, or (neither given) now."""

    moment: date | datetime | None = None
    position: int | None = None

    @classmethod
    def parse(cls, known_at: str | None, known_at_position: int | None) -> KnownAt:
        if known_at is not None and known_at_position is not None:
            raise KnownAtError(None, "give known_at or known_at_position, not both")
        if known_at_position is not None and known_at_position < 0:
            raise KnownAtError("known_at_position", "a position is 0 or more")
        return cls(parse_known_at(known_at) if known_at is not None else None, known_at_position)

    def position_in(self, read: ReadSide, recorded: Callable[[], int]) -> int:
        """The ledger position to read at, when the ledger is at ``recorded()``: the one
        asked for, once the views reach it; the last one recorded by the moment; or the
        views'. The ledger's position is a query, so it is asked only for a position given."""
        if self.position is not None:
            reach(read, "known_at_position", self.position, recorded)
        return read.known_position(self.moment, self.position)

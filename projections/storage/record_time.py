"""Record time is kept as integer microseconds since the epoch, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def microseconds(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1_000_000)

"""known_at is read by one set of rules, for the HTTP API and the command line alike."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from domain.months import BUREAU_TIME_ZONE
from projections.reads.known_at import KnownAt, KnownAtError, parse_known_at, recorded_by
from projections.storage.record_time import microseconds


def test_a_date_reaches_everything_recorded_before_the_next_midnight_in_shanghai() -> None:
    day = parse_known_at("2019-08-31")
    assert day == date(2019, 8, 31)
    midnight = datetime(2019, 9, 1, tzinfo=BUREAU_TIME_ZONE)
    assert recorded_by(day) == (microseconds(midnight), False)


def test_a_timestamp_reaches_its_own_instant() -> None:
    moment = datetime(2019, 8, 31, 18, tzinfo=timezone(timedelta(hours=8)))
    assert parse_known_at("2019-08-31T18:00:00+08:00") == moment
    assert recorded_by(moment) == (microseconds(moment), True)


def test_a_timestamp_without_its_time_zone_is_refused() -> None:
    with pytest.raises(KnownAtError) as refusal:
        parse_known_at("2019-08-31T18:00:00")
    assert str(refusal.value) == "known_at: a timestamp needs its time zone"


@pytest.mark.parametrize(
    "text",
    ["20190831", "2019-W35-6", "2019-08-31 18:00+08:00", "2019-13-01", "2019-08-31T25:00Z", "x"],
)
def test_other_spellings_of_a_date_or_timestamp_are_refused(text: str) -> None:
    with pytest.raises(KnownAtError) as refusal:
        parse_known_at(text)
    assert refusal.value.parameter == "known_at"
    assert refusal.value.reason == "a date YYYY-MM-DD or a timestamp with its time zone"


def test_known_at_and_known_at_position_together_are_refused() -> None:
    with pytest.raises(KnownAtError, match="give known_at or known_at_position, not both"):
        KnownAt.parse("2019-08-31", 5)


def test_a_negative_position_is_refused_naming_it() -> None:
    with pytest.raises(KnownAtError) as refusal:
        KnownAt.parse(None, -1)
    assert refusal.value.parameter == "known_at_position"


@pytest.mark.parametrize(
    "text", ["9999-12-31", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
)
def test_a_time_out_of_the_calendars_range_is_refused_naming_known_at(text: str) -> None:
    with pytest.raises(KnownAtError) as refusal:
        KnownAt.parse(text, None)
    assert refusal.value.parameter == "known_at"
    assert "out of range" in refusal.value.reason

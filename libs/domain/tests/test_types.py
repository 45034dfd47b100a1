"""The shared field types hold for any input: a valid value or a validation error, never another
exception (year 1 at an offset, year 9999, naive times, control characters)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from libs.domain.types import PlausibleDate, PlausibleDateTime, ResourceId, SafeLine

MOMENT = TypeAdapter(PlausibleDateTime)
DAY = TypeAdapter(PlausibleDate)
LINE = TypeAdapter(SafeLine)
IDENTIFIER = TypeAdapter(ResourceId)
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(max_examples=400, deadline=None)
@given(st.datetimes(timezones=OFFSETS))
def test_any_aware_time_is_a_moment_in_range_or_refused(value: datetime) -> None:
    for candidate in (value, value.isoformat()):
        try:
            moment = MOMENT.validate_python(candidate)
        except ValidationError:
            continue
        assert moment.tzinfo is UTC
        assert datetime(2000, 1, 1, tzinfo=UTC) <= moment < datetime(2100, 1, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.dates().map(date.isoformat) | st.integers())
def test_any_text_is_a_plausible_date_or_refused(value: object) -> None:
    try:
        day = DAY.validate_python(value)
    except ValidationError:
        return
    assert date(2000, 1, 1) <= day <= date(2099, 12, 31)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_text_fields_refuse_control_characters(value: str) -> None:
    for adapter in (LINE, IDENTIFIER):
        try:
            accepted = adapter.validate_python(value)
        except ValidationError:
            continue
        assert not any(ord(character) < 32 or ord(character) == 127 for character in accepted)


def test_the_extremes_a_reviewer_found() -> None:
    for value in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-12-07T10:00"):
        try:
            MOMENT.validate_python(value)
        except ValidationError:
            continue
        raise AssertionError(f"{value} was accepted")
    assert MOMENT.validate_python("2099-12-31T23:00:00-00:30") == datetime(
        2099, 12, 31, 23, 30, tzinfo=UTC
    )

"""Property-based tests of the cursor decoder: whatever a client sends as a cursor, and whatever
an edited cursor holds (year 1 at an offset, 2^31, 2^63, NUL, a deep document), the answer is the
position this API issued or a 400 problem, never another exception (STYLE.md: the hostile input
is the one no generator draws)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.servicekit.http import (
    INT32_MAX,
    INT64_MAX,
    Int64,
    decode_cursor,
    encode_cursor,
)
from libs.servicekit.problems import BadRequest

KINDS: dict[str, type] = {"n": int, "big": Int64, "day": date, "at": datetime, "id": str}
EXTREME_INTS = st.sampled_from(
    [-1, 0, INT32_MAX, INT32_MAX + 1, 2**31, INT64_MAX, INT64_MAX + 1, 2**64, -(2**63)]
)
EXTREME_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00-01:00",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59+14:00",
        "1999-12-31T23:59:59+00:00",
        "2100-01-01T00:00:00+00:00",
        "2026-02-30T00:00:00Z",
        "2026-12-07T10:00:00",
        "2026-12-07T10:00:00+25:00",
        "",
        "now",
    ]
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


def _raw_cursor(position: Any) -> str:
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decodes_or_400(cursor: str, fields: dict[str, type] | None) -> dict[str, Any] | None:
    try:
        return decode_cursor(cursor, fields)
    except BadRequest as problem:
        assert problem.status == 400
        return None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_position_or_a_400(cursor: str) -> None:
    _decodes_or_400(cursor, KINDS)
    _decodes_or_400(cursor, None)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "n": EXTREME_INTS | st.integers() | ANY_JSON,
            "big": EXTREME_INTS | st.integers() | ANY_JSON,
            "day": st.sampled_from(["0001-01-01", "9999-12-31", "1999-12-31", "2099-12-31"])
            | st.dates().map(date.isoformat)
            | ANY_JSON,
            "at": EXTREME_TIMES
            | st.datetimes(timezones=st.just(timezone(timedelta(hours=1)))).map(datetime.isoformat)
            | ANY_JSON,
            "id": st.text(max_size=250) | ANY_JSON,
        }
    )
)
def test_an_edited_position_is_in_range_or_a_400(position: dict[str, Any]) -> None:
    decoded = _decodes_or_400(_raw_cursor(position), KINDS)
    if decoded is None:
        return
    assert 0 <= decoded["n"] <= INT32_MAX
    assert 0 <= decoded["big"] <= INT64_MAX
    assert date(2000, 1, 1) <= decoded["day"] <= date(2099, 12, 31)
    assert decoded["at"].tzinfo is not None
    assert datetime(2000, 1, 1, tzinfo=UTC) <= decoded["at"] < datetime(2100, 1, 1, tzinfo=UTC)
    assert isinstance(decoded["id"], str) and "\x00" not in decoded["id"]
    decoded["id"].encode("utf-8")  # storable text


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (datetime, "0001-01-01T00:00:00+01:00"),
        (datetime, "9999-12-31T23:59:59-01:00"),
        (int, 2**31),
        (int, 3_000_000_000),
        (Int64, 2**63),
        (date, "0001-01-01"),
        (str, "a\x00b"),
        (str, "\ud800"),
    ],
)
def test_the_reviewed_extremes_are_400(kind: type, value: Any) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(_raw_cursor({"x": value}), {"x": kind})


def test_a_position_this_api_issued_decodes_to_itself() -> None:
    at = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
    cursor = encode_cursor(
        {"n": INT32_MAX, "big": INT64_MAX, "day": "2099-12-31", "at": at.isoformat(), "id": "F1"}
    )
    assert decode_cursor(cursor, KINDS) == {
        "n": INT32_MAX,
        "big": INT64_MAX,
        "day": date(2099, 12, 31),
        "at": at,
        "id": "F1",
    }

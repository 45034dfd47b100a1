"""Finding 5 of issue 22 (buyer sharing's part), the dates: every date a client sends here (a
grant's or an approval's end date, a reliance period, a year in a query), given year 1, 9999,
February 30, a time with an offset, a number or nothing, is accepted or a 4xx problem that
changes nothing, never a server error."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.buyer_sharing.tests.integration.conftest import Service, Upstream
from tools.hostile import ANY_DATE, ANY_YEAR, JSON_CONTENT, examples, json_body, query_value

# the hostile dates and times, none (an open end), and days around the clock's (2025-06-02)
DAY = (
    ANY_DATE
    | st.none()
    | st.sampled_from(
        ["2025-06-01", "2025-06-02", "2025-06-03", "2025-06-02T00:00:00+01:00", "2025-6-2"]
    )
)
PROPERTY = examples(100)


def plausible(value: Any) -> date | None:
    """The date a client meant, if it is one this API takes: what a JSON date reads as (a
    midnight time with an offset and a Unix time are dates too), from 2000 to 2099."""
    try:
        day = TypeAdapter(date).validate_json(json.dumps(value))
    except ValidationError:
        return None
    return day if date(2000, 1, 1) <= day <= date(2099, 12, 31) else None


@pytest.fixture
async def shared(service: Service, upstream: Upstream) -> Service:
    limiter = service.assembled.deps.public.limiter
    limiter.burst, limiter.rate = 10**9, 10.0**9
    await service.register_buyer("brand-a")
    await service.feed(
        [
            upstream.factory("f1"),
            *upstream.assessment(
                "f1", "f1-a1", 1, date(2025, 3, 1), [("Q1", True, False, "compliant")]
            ),
        ]
    )
    assert (await service.grant("f1", "brand-a")).status_code == 201
    return service


async def sent(service: Service, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    """The status of the write; a refused one changed nothing."""
    before = await service.count_events()
    response = await service.client.post(
        path, content=json_body(body), headers={**headers, **JSON_CONTENT}
    )
    assert response.status_code < 500, (path, body, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert await service.count_events() == before, (path, body)
    return response.status_code


@PROPERTY
@given(ends_on=DAY)
async def test_a_grants_end_date_is_taken_or_refused_with_a_4xx(
    shared: Service, ends_on: Any
) -> None:
    status = await sent(
        shared,
        "/v1/sharing-grants",
        {"buyer_id": "brand-a", "ends_on": ends_on},
        shared.factory("f1"),
    )
    meant = plausible(ends_on)
    if ends_on is None or (meant is not None and meant >= date(2025, 6, 2)):
        assert status == 201, ends_on
    else:
        assert status == 422, ends_on


@PROPERTY
@given(ends_on=DAY)
async def test_an_approvals_end_date_is_taken_or_refused_with_a_4xx(
    shared: Service, ends_on: Any
) -> None:
    asked = await shared.client.post(
        "/v1/access-requests", json={"factory_id": "f1"}, headers=shared.buyer("brand-a")
    )
    request_id = asked.json()["request_id"]
    status = await sent(
        shared,
        f"/v1/access-requests/{request_id}/approve",
        {"ends_on": ends_on},
        shared.factory("f1"),
    )
    meant = plausible(ends_on)
    if ends_on is None or (meant is not None and meant >= date(2025, 6, 2)):
        assert status == 200, ends_on
    else:
        assert status == 422, ends_on


@PROPERTY
@given(start=DAY, end=DAY)
async def test_a_reliance_period_is_taken_or_refused_with_a_4xx(
    shared: Service, start: Any, end: Any
) -> None:
    status = await sent(
        shared,
        "/v1/audit-reliance",
        {"factory_id": "f1", "assessment_id": "f1-a1", "period_start": start, "period_end": end},
        shared.buyer("brand-a"),
    )
    if plausible(start) is None or plausible(end) is None:
        assert status == 422, (start, end)
    else:
        assert status in (201, 422), (start, end)


@PROPERTY
@given(
    path=st.sampled_from(
        [
            "/v1/audit-reliance/statistics",
            "/v1/transparency/low-compliance",
            "/v1/transparency/rates",
        ]
    ),
    year=ANY_YEAR,
)
async def test_a_year_in_a_query_is_answered_or_a_422(
    shared: Service, path: str, year: Any
) -> None:
    response = await shared.client.get(f"{path}?year={query_value(year)}", headers=shared.admin)
    in_range = isinstance(year, int) and 2000 <= year <= 2099
    assert response.status_code == (200 if in_range else 422), (path, year, response.text)

"""Finding 5 of issue 22 (buyer sharing's part): every cursor this service decodes, given what no
schema-driven generator draws (2^31, 2^63, negative numbers, year 1 at an offset, NUL, huge
strings, wrong types, missing or extra members), is a page or a 400 problem on real PostgreSQL,
never a server error; the reviewed extremes are 400; and nothing changes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.buyer_sharing.tests.integration.conftest import Service

EXTREME_INTS = st.sampled_from(
    [-1, 0, 1, 2**31 - 1, 2**31, 3_000_000_000, 2**63 - 1, 2**63, 2**64, -(2**63)]
)
EXTREME_TEXT = st.sampled_from(
    [
        "",
        "a\x00b",
        "x" * 201,
        "x" * 5000,
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "f1",
        "\U0001f600",
        "'; DROP TABLE x; --",
    ]
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
VALUE = EXTREME_INTS | EXTREME_TEXT | st.integers() | st.text(max_size=250) | ANY_JSON

# every list of this service with a cursor, with the members its position holds
RISK = ("zero_tolerance", "critical", "overdue", "rate", "factory_id")
LISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "buyers": ("/v1/buyers", ("buyer_id",)),
    "portfolio by risk": ("/v1/buyers/brand-a/factories", RISK),
    "portfolio by id": ("/v1/buyers/brand-a/factories?sort=factory_id", ("factory_id",)),
    "grants": ("/v1/sharing-grants", ("factory_id", "buyer_id")),
    "access requests": ("/v1/access-requests", ("request_id",)),
    "reliances": ("/v1/audit-reliance", ("reliance_id",)),
    "transparency": ("/v1/transparency/factories", ("factory_id",)),
}
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def encoded(position: Any) -> str:
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


async def page(service: Service, path: str, cursor: str) -> Any:
    separator = "&" if "?" in path else "?"
    response = await service.client.get(
        f"{path}{separator}limit=2&cursor={cursor}", headers=service.admin
    )
    assert response.status_code in (200, 400), (path, cursor, response.status_code, response.text)
    if response.status_code == 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 400
    else:
        assert isinstance(response.json()["items"], list)
    return response


@pytest.fixture
async def shared(service: Service) -> Service:
    """A buyer with grants, a request and a generous rate limit on the public pages."""
    limiter = service.assembled.deps.public.limiter
    limiter.burst, limiter.rate = 10**9, 10.0**9
    await service.register_buyer("brand-a")
    for factory_id in ("f1", "f2", "f3"):
        assert (await service.grant(factory_id, "brand-a")).status_code == 201
    await service.client.post(
        "/v1/access-requests", json={"factory_id": "f9"}, headers=service.buyer("brand-a")
    )
    return service


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_the_reviewed_extremes_of_each_cursor_are_400(shared: Service, name: str) -> None:
    path, members = LISTS[name]
    before = await shared.count_events()
    for extreme in (2**31, 3_000_000_000, 2**63, -1, "a\x00b", "x" * 201, None, [1], {"a": 1}):
        for member in members:
            position: dict[str, Any] = {m: (0 if m in RISK[:4] else "f1") for m in members}
            position[member] = extreme
            response = await page(shared, path, encoded(position))
            assert response.status_code == 400, (name, member, extreme)
    malformed: list[Any] = [{}, {"other": 1}, {**dict.fromkeys(members, 0), "extra": 0}, [], 7]
    for wrong in malformed:
        assert (await page(shared, path, encoded(wrong))).status_code == 400, (name, wrong)
    assert await shared.count_events() == before


async def test_a_portfolio_cursor_holding_3_000_000_000_is_a_400(shared: Service) -> None:
    """The live finding: cast to a 32-bit integer in SQL, it was a 500."""
    cursor = encoded(
        {"zero_tolerance": 0, "critical": 0, "overdue": 0, "rate": 3_000_000_000, "factory_id": ""}
    )
    response = await page(shared, "/v1/buyers/brand-a/factories", cursor)
    assert response.status_code == 400


@PROPERTY
@given(name=st.sampled_from(sorted(LISTS)), data=st.data())
async def test_any_edited_position_is_a_page_or_a_400(
    shared: Service, name: str, data: st.DataObject
) -> None:
    path, members = LISTS[name]
    position = data.draw(
        st.fixed_dictionaries({member: VALUE for member in members})
        | st.dictionaries(st.sampled_from([*members, "x"]), VALUE, max_size=len(members) + 1),
        label="position",
    )
    before = await shared.count_events()
    await page(shared, path, encoded(position))
    assert await shared.count_events() == before


@PROPERTY
@given(name=st.sampled_from(sorted(LISTS)), cursor=st.text(max_size=300))
@example(name="portfolio by risk", cursor="=" * 3000)
async def test_any_text_as_a_cursor_is_a_page_or_a_400(
    shared: Service, name: str, cursor: str
) -> None:
    path, _ = LISTS[name]
    separator = "&" if "?" in path else "?"
    response = await shared.client.get(
        f"{path}{separator}limit=2", params={"cursor": cursor}, headers=shared.admin
    )
    assert response.status_code in (200, 400, 422), (name, cursor, response.text)
    assert response.headers["content-type"].startswith("application/")

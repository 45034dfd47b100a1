"""Finding 5 of issue 22 (buyer sharing's part): every cursor this service decodes, given what no
schema-driven generator draws (2^31, 2^63, negative numbers, year 1 at an offset, NUL, huge
strings, wrong types, missing or extra members), is a page or a 400 problem on real PostgreSQL,
never a server error; the reviewed extremes are 400; and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.buyer_sharing.tests.integration.conftest import Service
from tools.hostile import ANY_VALUE, CURSOR_TEXTS, examples, forged_cursor, positions

# what every member of a position may hold: the hostile values, and a factory that exists
VALUE = ANY_VALUE | st.just("f1")

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
PROPERTY = examples(100)


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
            response = await page(shared, path, forged_cursor(position))
            assert response.status_code == 400, (name, member, extreme)
    malformed: list[Any] = [{}, {"other": 1}, {**dict.fromkeys(members, 0), "extra": 0}, [], 7]
    for wrong in malformed:
        assert (await page(shared, path, forged_cursor(wrong))).status_code == 400, (name, wrong)
    assert await shared.count_events() == before


async def test_a_portfolio_cursor_holding_3_000_000_000_is_a_400(shared: Service) -> None:
    """The live finding: cast to a 32-bit integer in SQL, it was a 500."""
    cursor = forged_cursor(
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
        positions(dict.fromkeys(members, VALUE), strangers=("x",)), label="position"
    )
    before = await shared.count_events()
    await page(shared, path, forged_cursor(position))
    assert await shared.count_events() == before


@PROPERTY
@given(name=st.sampled_from(sorted(LISTS)), cursor=CURSOR_TEXTS)
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

"""ETags, If-Match and cursor pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Header, Response

from libs.servicekit import (
    Page,
    Pagination,
    PreconditionFailed,
    ServiceSettings,
    create_app,
    decode_cursor,
    encode_cursor,
    etag_for,
    parse_if_match,
    set_etag,
)
from libs.servicekit.problems import BadRequest


def test_etag_is_the_quoted_version() -> None:
    assert etag_for(7) == '"7"'
    assert parse_if_match(etag_for(7)) == 7


@pytest.mark.parametrize(("header", "version"), [(None, None), ("*", None), ('"0"', 0), ("12", 12)])
def test_if_match_accepted(header: str | None, version: int | None) -> None:
    assert parse_if_match(header) == version


@pytest.mark.parametrize("header", ['W/"3"', '"3", "4"', '"abc"', "", '"-1"', '"3'])
def test_if_match_malformed_is_412(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        parse_if_match(header)


def test_cursor_round_trip_is_opaque_urlsafe() -> None:
    position = {"created_at": "2025-01-01T00:00:00+00:00", "id": "a/b+c?"}
    cursor = encode_cursor(position)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor) == position


@pytest.mark.parametrize(
    "cursor", ["!!!", "bm90LWpzb24", encode_cursor({})[:0] + "WzFd", "x" * 5000]
)
def test_tampered_cursor_is_400(cursor: str) -> None:
    # "bm90LWpzb24" is base64 of non-JSON text, "WzFd" of a JSON list.
    with pytest.raises(BadRequest):
        decode_cursor(cursor)


ITEMS = [f"item-{number:03d}" for number in range(7)]
router = APIRouter()


@router.get("/items")
async def list_items(page: Pagination) -> Page[str]:
    position = page.position()
    start = position["after"] + 1 if position else 0
    chunk = ITEMS[start : start + page.limit]
    last = start + len(chunk) - 1
    more = last + 1 < len(ITEMS)
    return Page[str](items=chunk, next_cursor=encode_cursor({"after": last}) if more else None)


@router.get("/things/{thing_id}")
async def get_thing(thing_id: str, response: Response) -> dict[str, str]:
    set_etag(response, 3)
    return {"id": thing_id}


@router.put("/things/{thing_id}")
async def put_thing(thing_id: str, if_match: str | None = Header(None)) -> dict[str, int | None]:
    return {"expected": parse_if_match(if_match)}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings=ServiceSettings(service_name="http-test"),
        title="t",
        description="t",
        version="1",
        routers=[router],
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_pages_walk_the_whole_list(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 3}
    for _ in range(5):
        body = (await client.get("/items", params=params)).json()
        seen += body["items"]
        if body["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": body["next_cursor"]}
    assert seen == ITEMS


async def test_pagination_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/items", params={"cursor": "garbage!"})
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-cursor")
    response = await client.get("/items", params={"limit": 501})
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "query.limit"


async def test_etag_and_if_match_over_http(client: httpx.AsyncClient) -> None:
    response = await client.get("/things/a")
    assert response.headers["etag"] == '"3"'
    response = await client.put("/things/a", headers={"If-Match": response.headers["etag"]})
    assert response.json() == {"expected": 3}
    response = await client.put("/things/a", headers={"If-Match": 'W/"3"'})
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"

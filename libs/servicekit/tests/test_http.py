"""ETags, If-Match and cursor pagination."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Header, Response

from libs.servicekit.app import create_app
from libs.servicekit.http import (
    CURSOR_PATTERN,
    IF_MATCH_PATTERN,
    IfMatch,
    Page,
    Pagination,
    decode_cursor,
    encode_cursor,
    etag_for,
    parse_if_match,
    set_etag,
)
from libs.servicekit.problems import BadRequest, PreconditionFailed
from libs.servicekit.settings import ServiceSettings


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


@router.get("/typed-items")
async def list_typed_items(page: Pagination) -> Page[str]:
    position = page.position(after=str)
    return Page[str](items=[str(position)], next_cursor=None)


@router.patch("/things/{thing_id}")
async def patch_thing(thing_id: str, if_match: IfMatch = None) -> dict[str, int | None]:
    return {"expected": parse_if_match(if_match)}


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


def _raw_cursor(raw: str | bytes) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor({"x": 1}),  # another list's position
        encode_cursor({"after": 1}),  # the wrong type
        encode_cursor({"after": "a", "extra": "b"}),
        encode_cursor({"after": "a\x00b"}),  # PostgreSQL refuses NUL in text
        encode_cursor({"after": "x" * 201}),
        _raw_cursor("[" * 100_000 + "]" * 100_000),  # deeply nested JSON
        _raw_cursor('{"after": ' + "[" * 5000 + "]" * 5000 + "}"),
        _raw_cursor(b'{"after": "\xff"}'),  # not UTF-8
        "",
        "a=b",
    ],
)
def test_cursor_of_another_shape_is_400(cursor: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(cursor, {"after": str})


def test_cursor_fields_are_typed() -> None:
    cursor = encode_cursor({"due_date": "2025-03-01", "item_id": "i-1", "version": 7})
    fields = {"due_date": date, "item_id": str, "version": int}
    assert decode_cursor(cursor, fields) == {
        "due_date": date(2025, 3, 1),
        "item_id": "i-1",
        "version": 7,
    }
    for bad in ({"due_date": "2025-13-01"}, {"version": True}, {"version": -1}):
        tampered = encode_cursor({"due_date": "2025-03-01", "item_id": "i", "version": 7, **bad})
        with pytest.raises(BadRequest):
            decode_cursor(tampered, fields)


def test_openapi_states_the_cursor_and_if_match_formats() -> None:
    app = create_app(
        settings=ServiceSettings(service_name="http-test"),
        title="t",
        description="t",
        version="1",
        routers=[router],
    )
    operations = app.openapi()["paths"]
    cursor = next(p for p in operations["/items"]["get"]["parameters"] if p["name"] == "cursor")
    assert cursor["in"] == "query"
    assert cursor["schema"]["pattern"] == CURSOR_PATTERN
    if_match = next(
        p
        for p in operations["/things/{thing_id}"]["patch"]["parameters"]
        if p["name"] == "If-Match"
    )
    assert if_match["schema"]["pattern"] == IF_MATCH_PATTERN


async def test_tampered_cursors_over_http_are_400_problems(client: httpx.AsyncClient) -> None:
    for cursor in (encode_cursor({"x": 1}), _raw_cursor("[" * 1500), "%00", "ü"):
        response = await client.get("/typed-items", params={"cursor": cursor})
        assert response.status_code == 400, cursor
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-cursor")


async def test_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.delete("/things/a")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    # one route per method: Starlette alone would name only the first route's
    assert response.headers["allow"] == "GET, PATCH, PUT"

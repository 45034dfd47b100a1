"""Idempotency-Key against a real PostgreSQL, with the table created by servicekit's alembic glue."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.servicekit import (
    CurrentPrincipal,
    ServiceSettings,
    async_database_url,
    create_app,
    mint_token,
    set_etag,
)
from libs.servicekit.idempotency import purge_expired_keys
from libs.servicekit.migrations import run_migrations
from libs.servicekit.problems import Conflict

pytestmark = pytest.mark.integration

SCHEMA = "kit"
SECRET = "idempotency-test-secret-32-bytes!!"

ENV_PY = """
from libs.servicekit.idempotency import define_idempotency_table
from libs.servicekit.migrations import run_alembic_env, service_metadata

metadata = service_metadata("kit")
define_idempotency_table(metadata)
run_alembic_env(metadata, "kit")
"""
REVISION_PY = """
from alembic import op
from libs.servicekit.idempotency import define_idempotency_table
from libs.servicekit.migrations import service_metadata

revision = "0001"
down_revision = None


def upgrade() -> None:
    metadata = service_metadata("kit")
    define_idempotency_table(metadata)
    metadata.create_all(op.get_bind())
"""


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.slow_entered = asyncio.Event()
        self.slow_release = asyncio.Event()


calls = Calls()
router = APIRouter()


@router.post("/orders", status_code=201)
async def create_order(
    request: Request, response: Response, _: CurrentPrincipal
) -> dict[str, object]:
    calls.count += 1
    response.headers["Location"] = f"/orders/{calls.count}"
    response.headers["X-Not-Kept"] = "1"
    set_etag(response, 1)
    return {"id": calls.count, "body": (await request.body()).decode()}


@router.post("/other-orders", status_code=201)
async def create_other_order(_: CurrentPrincipal) -> dict[str, int]:
    calls.count += 1
    return {"id": calls.count}


@router.post("/slow")
async def slow(_: CurrentPrincipal) -> dict[str, int]:
    calls.count += 1
    calls.slow_entered.set()
    await asyncio.wait_for(calls.slow_release.wait(), 10)
    return {"id": calls.count}


@router.post("/flaky")
async def flaky(_: CurrentPrincipal) -> dict[str, int]:
    calls.count += 1
    if calls.count == 1:
        raise RuntimeError("transient failure")
    return {"id": calls.count}


@router.post("/conflicting")
async def conflicting(_: CurrentPrincipal) -> None:
    calls.count += 1
    raise Conflict("Stream version mismatch.")


@router.post("/stream")
async def stream(_: CurrentPrincipal) -> StreamingResponse:
    calls.count += 1

    async def lines() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"line {number} of call {calls.count}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain")


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(textwrap.dedent(ENV_PY))
    (tmp_path / "versions" / "0001_idempotency.py").write_text(textwrap.dedent(REVISION_PY))
    await asyncio.to_thread(run_migrations, database_url, tmp_path, SCHEMA)
    engine = create_async_engine(async_database_url(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    global calls
    calls = Calls()
    app = create_app(
        settings=ServiceSettings(service_name="idem-test", jwt_secret=SECRET),
        title="t",
        description="t",
        version="1",
        routers=[router],
        db_engine=engine,
        db_schema=SCHEMA,
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def headers(key: str, subject: str = "alice") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(SECRET, subject, 'admin')}",
        "Idempotency-Key": key,
    }


async def test_migrations_put_table_and_version_in_the_schema(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(run_migrations, database_url, tmp_path, SCHEMA)  # again: a no-op
    async with engine.connect() as connection:
        tables = set(
            (
                await connection.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'kit'"
                    )
                )
            ).scalars()
        )
        version = (
            await connection.execute(text("SELECT version_num FROM kit.alembic_version"))
        ).scalar()
    assert tables == {"idempotency_key", "alembic_version"}
    assert version == "0001"


async def test_retry_replays_the_stored_response(client: httpx.AsyncClient) -> None:
    first = await client.post("/orders", content=b'{"a": 1}', headers=headers("k1"))
    again = await client.post("/orders", content=b'{"a": 1}', headers=headers("k1"))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"] == "/orders/1"
    assert again.headers["etag"] == '"1"'
    assert again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert "x-not-kept" not in again.headers
    assert calls.count == 1


async def test_key_reused_for_another_request_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/orders", content=b'{"a": 1}', headers=headers("k2"))
    other_body = await client.post("/orders", content=b'{"a": 2}', headers=headers("k2"))
    assert other_body.status_code == 422
    assert other_body.json()["type"].endswith("/idempotency-key-reused")
    other_path = await client.post("/other-orders", content=b'{"a": 1}', headers=headers("k2"))
    assert other_path.status_code == 422
    assert calls.count == 1


async def test_keys_belong_to_their_subject(client: httpx.AsyncClient) -> None:
    alice = await client.post("/orders", content=b"{}", headers=headers("shared", "alice"))
    bob = await client.post("/orders", content=b"{}", headers=headers("shared", "bob"))
    assert alice.json()["id"] == 1 and bob.json()["id"] == 2
    assert "idempotent-replayed" not in bob.headers


async def test_same_key_while_running_is_409(client: httpx.AsyncClient) -> None:
    first = asyncio.create_task(client.post("/slow", headers=headers("k3")))
    await asyncio.wait_for(calls.slow_entered.wait(), 5)
    concurrent = await client.post("/slow", headers=headers("k3"))
    assert concurrent.status_code == 409
    assert concurrent.headers["retry-after"] == "1"
    assert concurrent.json()["type"].endswith("/idempotency-key-in-progress")
    calls.slow_release.set()
    assert (await asyncio.wait_for(first, 5)).status_code == 200
    replay = await client.post("/slow", headers=headers("k3"))
    assert replay.headers["idempotent-replayed"] == "true"
    assert calls.count == 1


async def test_server_error_releases_the_key(client: httpx.AsyncClient) -> None:
    failed = await client.post("/flaky", headers=headers("k4"))
    assert failed.status_code == 500
    retried = await client.post("/flaky", headers=headers("k4"))
    assert retried.status_code == 200 and retried.json() == {"id": 2}
    assert "idempotent-replayed" not in retried.headers


async def test_conflicts_are_not_stored(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        response = await client.post("/conflicting", headers=headers("k5"))
        assert response.status_code == 409
        assert "idempotent-replayed" not in response.headers
    assert calls.count == 2


async def test_streamed_response_is_passed_on_and_replayed(client: httpx.AsyncClient) -> None:
    first = await client.post("/stream", headers=headers("k6"))
    again = await client.post("/stream", headers=headers("k6"))
    assert first.text == "line 0 of call 1\nline 1 of call 1\nline 2 of call 1\n"
    assert again.text == first.text
    assert again.headers["idempotent-replayed"] == "true"


async def test_key_length_limits(client: httpx.AsyncClient) -> None:
    too_long = await client.post("/orders", content=b"{}", headers=headers("x" * 256))
    assert too_long.status_code == 400
    assert too_long.headers["content-type"] == "application/problem+json"
    longest = await client.post("/orders", content=b"{}", headers=headers("x" * 255))
    assert longest.status_code == 201


async def test_without_a_valid_token_the_route_answers(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", content=b"{}", headers={"Idempotency-Key": "k7"})
    assert response.status_code == 401
    assert calls.count == 0


async def test_expired_keys_are_reused_and_purged(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post("/orders", content=b'{"a": 1}', headers=headers("old"))
    await client.post("/orders", content=b'{"a": 1}', headers=headers("recent"))
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE kit.idempotency_key SET created_at = now() - interval '25 hours' WHERE key = 'old'"
            )
        )
    # An expired key is a fresh key: even another body runs instead of being refused.
    reused = await client.post("/orders", content=b'{"a": 2}', headers=headers("old"))
    assert reused.status_code == 201 and "idempotent-replayed" not in reused.headers
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE kit.idempotency_key SET created_at = now() - interval '25 hours' WHERE key = 'old'"
            )
        )
    assert await purge_expired_keys(engine, SCHEMA) == 1
    async with engine.connect() as connection:
        keys = (
            (await connection.execute(text("SELECT key FROM kit.idempotency_key"))).scalars().all()
        )
    assert keys == ["recent"]

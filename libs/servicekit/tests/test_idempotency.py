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

from libs.servicekit.app import create_app
from libs.servicekit.auth import CurrentPrincipal, mint_token
from libs.servicekit.http import set_etag
from libs.servicekit.idempotency import before_write, purge_expired_keys, request_connection
from libs.servicekit.migrations import run_migrations
from libs.servicekit.problems import Conflict, NotFound
from libs.servicekit.settings import ServiceSettings, async_database_url

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
    before_write(request)
    calls.count += 1
    response.headers["Location"] = f"/orders/{calls.count}"
    response.headers["X-Not-Kept"] = "1"
    set_etag(response, 1)
    return {"id": calls.count, "body": (await request.body()).decode()}


@router.post("/keys", status_code=201)
async def create_key(request: Request, response: Response, _: CurrentPrincipal) -> dict[str, str]:
    """Shows a secret once: never kept for retries."""
    before_write(request)
    calls.count += 1
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/keys/{calls.count}"
    return {"secret": f"whsec_secret-{calls.count}"}


@router.post("/other-orders", status_code=201)
async def create_other_order(request: Request, _: CurrentPrincipal) -> dict[str, int]:
    before_write(request)
    calls.count += 1
    return {"id": calls.count}


@router.post("/slow")
async def slow(request: Request, _: CurrentPrincipal) -> dict[str, int]:
    before_write(request)
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
async def stream(request: Request, _: CurrentPrincipal) -> StreamingResponse:
    before_write(request)
    calls.count += 1

    async def lines() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"line {number} of call {calls.count}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain")


# Who may post to /factories/{factory_id}/notes: a server-side grant the test can withdraw.
granted: set[tuple[str, str]] = set()


@router.post("/factories/{factory_id}/notes", status_code=201)
async def post_note(
    factory_id: str, request: Request, principal: CurrentPrincipal
) -> dict[str, object]:
    if (principal.subject, factory_id) not in granted:
        raise NotFound(f"No factory {factory_id}.")
    before_write(request)
    calls.count += 1
    return {"id": calls.count, "factory_id": factory_id}


@router.post("/ledger", status_code=201)
async def write_ledger(request: Request, outcome: str, _: CurrentPrincipal) -> dict[str, object]:
    """Writes a row in the request's transaction, then answers as `outcome` says."""
    before_write(request)
    calls.count += 1
    connection = request_connection(request)
    assert connection is not None, "a request with an Idempotency-Key runs in a transaction"
    await connection.execute(
        text("INSERT INTO kit.ledger (entry) VALUES (:entry)"), {"entry": calls.count}
    )
    if outcome == "conflict":
        raise Conflict("Refused after writing.")
    if outcome == "crash":
        raise RuntimeError("crashed after writing")
    return {"entry": calls.count}


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(textwrap.dedent(ENV_PY))
    (tmp_path / "versions" / "0001_idempotency.py").write_text(textwrap.dedent(REVISION_PY))
    await asyncio.to_thread(run_migrations, database_url, tmp_path, SCHEMA)
    engine = create_async_engine(async_database_url(database_url))
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE kit.ledger (entry int PRIMARY KEY)"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    global calls
    calls = Calls()
    granted.clear()
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


def headers(key: str, subject: str = "alice", role: str = "admin", **tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(SECRET, subject, role, **tenant)}",  # type: ignore[arg-type]
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
    assert tables == {"idempotency_key", "alembic_version", "ledger"}
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


async def test_key_reused_for_another_body_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/orders", content=b'{"a": 1}', headers=headers("k2"))
    other_body = await client.post("/orders", content=b'{"a": 2}', headers=headers("k2"))
    assert other_body.status_code == 422
    assert other_body.json()["type"].endswith("/idempotency-key-reused")
    assert calls.count == 1


async def test_key_reused_with_another_if_match_is_422(client: httpx.AsyncClient) -> None:
    first = await client.post(
        "/orders", content=b"{}", headers={**headers("k2m"), "If-Match": '"1"'}
    )
    other = await client.post(
        "/orders", content=b"{}", headers={**headers("k2m"), "If-Match": '"2"'}
    )
    assert first.status_code == 201 and other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert calls.count == 1


async def test_keys_are_scoped_by_method_and_path(client: httpx.AsyncClient) -> None:
    first = await client.post("/orders", content=b'{"a": 1}', headers=headers("k2p"))
    other_path = await client.post("/other-orders", content=b'{"a": 1}', headers=headers("k2p"))
    assert first.status_code == other_path.status_code == 201
    assert "idempotent-replayed" not in other_path.headers
    assert other_path.json() == {"id": 2}
    assert calls.count == 2


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


async def test_keys_belong_to_the_whole_identity(client: httpx.AsyncClient) -> None:
    """The same subject with another role or tenant is another caller (the dev token helper used
    to give every factory user one subject)."""
    first = await client.post("/orders", content=b"{}", headers=headers("id-k", "same"))
    as_factory_a = headers("id-k", "same", "factory", factory_id="A")
    as_factory_b = headers("id-k", "same", "factory", factory_id="B")
    as_buyer = headers("id-k", "same", "buyer", buyer_id="X")
    answers = [
        await client.post("/orders", content=b"{}", headers=other)
        for other in (as_factory_a, as_factory_b, as_buyer)
    ]
    assert [answer.json()["id"] for answer in [first, *answers]] == [1, 2, 3, 4]
    assert all("idempotent-replayed" not in answer.headers for answer in answers)
    again = await client.post("/orders", content=b"{}", headers=as_factory_b)
    assert again.json()["id"] == 3 and again.headers["idempotent-replayed"] == "true"


async def test_a_caller_no_longer_allowed_gets_the_refusal_not_the_replay(
    client: httpx.AsyncClient,
) -> None:
    granted.add(("alice", "F1"))
    first = await client.post("/factories/F1/notes", content=b"{}", headers=headers("n1"))
    assert first.status_code == 201
    granted.clear()  # e.g. the factory revoked the caller's access
    retried = await client.post("/factories/F1/notes", content=b"{}", headers=headers("n1"))
    without_key = await client.post(
        "/factories/F1/notes",
        content=b"{}",
        headers={"Authorization": headers("x")["Authorization"]},
    )
    assert retried.status_code == without_key.status_code == 404
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["title"] == without_key.json()["title"]
    assert calls.count == 1


async def test_the_answer_commits_with_what_the_request_wrote(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = await client.post("/ledger?outcome=ok", headers=headers("l1"))
    refused = await client.post("/ledger?outcome=conflict", headers=headers("l2"))
    crashed = await client.post("/ledger?outcome=crash", headers=headers("l3"))
    assert (created.status_code, refused.status_code, crashed.status_code) == (201, 409, 500)
    async with engine.connect() as connection:
        entries = (await connection.execute(text("SELECT entry FROM kit.ledger"))).scalars().all()
        keys = (
            (await connection.execute(text("SELECT key FROM kit.idempotency_key"))).scalars().all()
        )
    # Only the request that answered 201 left its row, and only its key is stored.
    assert entries == [1] and keys == ["l1"]
    # The refused and the crashed requests applied nothing, so their retries run again.
    retried = await client.post("/ledger?outcome=ok", headers=headers("l3"))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    replayed = await client.post("/ledger?outcome=ok", headers=headers("l1"))
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == {"entry": 1}


async def test_concurrent_requests_with_one_key_apply_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    answers = await asyncio.gather(
        *(client.post("/ledger?outcome=ok", headers=headers("same-key")) for _ in range(8))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {201, 409}
    applied = [
        a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers
    ]
    assert len(applied) == 1
    async with engine.connect() as connection:
        entries = (await connection.execute(text("SELECT entry FROM kit.ledger"))).scalars().all()
    assert entries == [applied[0].json()["entry"]]


async def test_an_answer_showing_a_secret_once_is_not_kept(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await client.post("/keys", content=b"{}", headers=headers("secret-1"))
    retried = await client.post("/keys", content=b"{}", headers=headers("secret-1"))
    assert first.status_code == 201 and first.json()["secret"] == "whsec_secret-1"
    assert retried.status_code == 409 and retried.headers["idempotent-replayed"] == "true"
    assert retried.json()["type"].endswith("/idempotent-answer-withheld")
    assert retried.headers["location"] == "/keys/1" and "whsec_" not in retried.text
    async with engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT response_body FROM kit.idempotency_key WHERE key = 'secret-1'")
        )
    assert b"whsec_" not in bytes(stored)
    assert calls.count == 1

"""Signed tree heads on real PostgreSQL: the signer signs when new events exist and only then, as
of a position no later commit can fall under, one replica at a time; a development key is made
once and kept; the routes serve the heads; production refuses to start without a key."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.chain import merkle_root
from libs.events.store import EventStore
from libs.events.tests.conftest import SCHEMA, ItemCounted
from libs.events.tests.test_store import append
from libs.events.treehead import (
    HistoryKey,
    TreeHeadSigner,
    latest_tree_head,
    plain_driver,
    tree_head_problem,
)
from libs.events.verification import verify_history
from libs.servicekit.history import HistorySettings, history_router, tree_head_signer
from libs.servicekit.problems import install_problem_handlers
from libs.servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def key() -> HistoryKey:
    return HistoryKey.generate()


@pytest.fixture
def signer(engine: AsyncEngine, key: HistoryKey) -> TreeHeadSigner:
    return TreeHeadSigner(engine, SCHEMA, [key], settle_seconds=0.3)


async def heads(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        driver = await plain_driver(connection)
        rows = await driver.fetch(f"SELECT * FROM {SCHEMA}.tree_head ORDER BY position")
        return [dict(row) for row in rows]


async def verified(engine: AsyncEngine, *keys: HistoryKey) -> list[str]:
    async with engine.connect() as connection:
        report = await verify_history(
            await plain_driver(connection),
            SCHEMA,
            trusted_keys=[key.public_jwk() for key in keys] if keys else None,
        )
    return [failure.describe(SCHEMA) for failure in report.failures]


class TestSigning:
    async def test_nothing_is_signed_before_the_first_event(self, signer: TreeHeadSigner) -> None:
        assert await signer.sign() is None

    async def test_a_head_covers_every_streams_last_event(
        self, signer: TreeHeadSigner, store: EventStore, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        await append(store, "c1", 0, 1, 2)
        await append(store, "c2", 0, 3)
        head = await signer.sign()
        assert head is not None
        async with engine.connect() as connection:
            driver = await plain_driver(connection)
            last = await driver.fetch(
                f"SELECT DISTINCT ON (stream_id) stream_id, hash FROM {SCHEMA}.event "
                "ORDER BY stream_id, version DESC"
            )
            position = await driver.fetchval(f"SELECT max(position) FROM {SCHEMA}.event")
        assert (head.position, head.stream_count, head.event_count) == (position, 2, 3)
        assert head.root == merkle_root([(row[0], row[1]) for row in last])
        assert head.kid == key.kid
        assert tree_head_problem(head.document()) is None
        assert await verified(engine, key) == []

    async def test_a_new_head_only_when_new_events_exist(
        self, signer: TreeHeadSigner, store: EventStore, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        await append(store, "c1", 0, 1)
        first = await signer.sign()
        assert await signer.sign() is None
        await append(store, "c1", 1, 2)
        await append(store, "c3", 0, 5)
        second = await signer.sign()
        assert first is not None and second is not None
        assert second.position > first.position
        assert (second.stream_count, second.event_count) == (2, 3)
        assert len(await heads(engine)) == 2
        # a signer that did not sign the last head (another replica) computes it whole
        await append(store, "c4", 0, 6)
        other = TreeHeadSigner(engine, SCHEMA, [key])
        third = await other.sign()
        assert third is not None and (third.stream_count, third.event_count) == (3, 4)
        assert await verified(engine, key) == []

    async def test_a_head_waits_for_a_writer_still_holding_an_earlier_position(
        self, signer: TreeHeadSigner, store: EventStore, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        """A transaction drew a position, a later one committed first: no head may be signed at
        the later position until the first ends, or its event would fall under a head that
        does not have it."""
        await append(store, "c1", 0, 1)
        async with engine.connect() as slow, slow.begin():
            async with store.unit_of_work(connection=slow) as unit:
                await unit.append(
                    "slow",
                    stream_type="counter",
                    expected_version=0,
                    events=[ItemCounted(counter="slow")],
                    subject="f",
                )
            await append(store, "fast", 0, 2)  # commits with a later position
            assert await signer.sign() is None  # the slow writer is still open
            # committed now: the head covers both
        head = await signer.sign()
        assert head is not None and (head.stream_count, head.event_count) == (3, 3)
        assert await verified(engine, key) == []

    async def test_replicas_signing_at_once_make_one_head(
        self, store: EventStore, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        await append(store, "c1", 0, 1, 2, 3)
        signers = [TreeHeadSigner(engine, SCHEMA, [key]) for _ in range(4)]
        signed = await asyncio.gather(*(s.sign() for s in signers))
        assert len([head for head in signed if head is not None]) >= 1
        assert len(await heads(engine)) == 1

    async def test_the_component_signs_every_interval(
        self, store: EventStore, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        component = TreeHeadSigner(engine, SCHEMA, [key], interval=0.05)
        await append(store, "c1", 0, 1)
        await component.start()
        try:
            for _ in range(200):
                if await heads(engine):
                    break
                await asyncio.sleep(0.05)
        finally:
            await component.stop()
        assert len(await heads(engine)) == 1


class TestKeys:
    async def test_a_rotation_keeps_the_old_heads_verifiable(
        self, store: EventStore, engine: AsyncEngine
    ) -> None:
        old, new = HistoryKey.generate(), HistoryKey.generate()
        await append(store, "c1", 0, 1)
        assert await TreeHeadSigner(engine, SCHEMA, [old]).sign() is not None
        await append(store, "c1", 1, 2)
        assert await TreeHeadSigner(engine, SCHEMA, [new, old]).sign() is not None
        kids = [row["kid"] for row in await heads(engine)]
        assert kids == [old.kid, new.kid]
        assert await verified(engine, new, old) == []
        assert await verified(engine) == []  # each against the key it carries
        # a verifier that was told only of the new key refuses the old heads
        refused = await verified(engine, new)
        assert len(refused) == 1 and f"signed by key {old.kid}" in refused[0]

    async def test_development_makes_a_key_once_and_keeps_it(
        self, store: EventStore, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
    ) -> None:
        await append(store, "c1", 0, 1)
        with caplog.at_level(logging.WARNING, logger="libs.events.treehead"):
            first = await TreeHeadSigner(engine, SCHEMA, []).signing_keys()
        assert "generated the history signing key" in caplog.text
        caplog.clear()
        restarted = TreeHeadSigner(engine, SCHEMA, [])
        assert [key.kid for key in await restarted.signing_keys()] == [first[0].kid]
        assert "generated" not in caplog.text
        head = await restarted.sign()
        assert head is not None and head.kid == first[0].kid

    def test_production_refuses_to_start_without_a_key(self, engine: AsyncEngine) -> None:
        settings = ServiceSettings(
            service_name="library", environment="production", jwt_secret="x" * 40
        )
        with pytest.raises(ValueError, match="BW_HISTORY_KEYS must be set outside development"):
            tree_head_signer(settings, engine, SCHEMA, HistorySettings(history_keys=""))
        with pytest.raises(ValueError, match="not JSON"):
            tree_head_signer(settings, engine, SCHEMA, HistorySettings(history_keys="nope"))
        key = HistoryKey.generate()
        configured = HistorySettings(history_keys=json.dumps([key.private_jwk()]))
        assert tree_head_signer(settings, engine, SCHEMA, configured).keys[0].kid == key.kid


@pytest.fixture
async def client(signer: TreeHeadSigner) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app, None, None)
    app.include_router(history_router)
    app.state.tree_head_signer = signer
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


class TestRoutes:
    async def test_the_latest_head_is_served_to_anyone(
        self, client: httpx.AsyncClient, signer: TreeHeadSigner, store: EventStore
    ) -> None:
        missing = await client.get("/v1/history/tree-head")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        await append(store, "c1", 0, 1)
        await signer.sign()
        await append(store, "c1", 1, 2)
        latest = await signer.sign()
        assert latest is not None
        response = await client.get("/v1/history/tree-head")
        assert response.status_code == 200
        assert response.json() == latest.document()
        assert tree_head_problem(response.json()) is None

    async def test_heads_are_paged_after_a_position(
        self, client: httpx.AsyncClient, signer: TreeHeadSigner, store: EventStore
    ) -> None:
        positions = []
        for version in range(3):
            await append(store, "c1", version, version)
            head = await signer.sign()
            assert head is not None
            positions.append(head.position)
        first = (await client.get("/v1/history/tree-heads", params={"limit": 2})).json()
        assert [h["position"] for h in first["items"]] == positions[:2]
        assert first["next_after"] == positions[1]
        rest = (
            await client.get("/v1/history/tree-heads", params={"after": first["next_after"]})
        ).json()
        assert [h["position"] for h in rest["items"]] == positions[2:]
        assert rest["next_after"] is None
        beyond = await client.get("/v1/history/tree-heads", params={"after": 2**63 - 1})
        assert beyond.json() == {"items": [], "next_after": None}

    @pytest.mark.parametrize(
        "params", [{"after": -1}, {"after": 2**63}, {"limit": 0}, {"limit": 501}, {"after": "x"}]
    )
    async def test_a_bad_page_is_a_problem(
        self, client: httpx.AsyncClient, params: dict[str, int | str]
    ) -> None:
        response = await client.get("/v1/history/tree-heads", params=params)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_the_keys_are_served_without_their_private_part(
        self, client: httpx.AsyncClient, key: HistoryKey
    ) -> None:
        response = await client.get("/v1/history/keys")
        assert response.json() == {"keys": [key.public_jwk()]}
        assert "d" not in response.json()["keys"][0]


async def test_every_service_serves_its_tree_heads() -> None:
    """The service kit adds the routes and the signer to every service's app."""
    from services.remediation.service import SERVICE

    app = SERVICE.app()
    paths = set(app.openapi()["paths"])
    assert {"/v1/history/tree-head", "/v1/history/tree-heads", "/v1/history/keys"} <= paths
    assert isinstance(app.state.tree_head_signer, TreeHeadSigner)
    assert app.state.tree_head_signer.schema == "remediation"


async def test_latest_tree_head_is_none_on_an_empty_history(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await latest_tree_head(await plain_driver(connection), SCHEMA) is None

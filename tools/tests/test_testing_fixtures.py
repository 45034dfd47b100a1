"""The shared test fixtures keep their promises: an empty private database per test, dropped
afterwards; streams under a test's subject prefix deleted afterwards; a NATS that keeps its
JetStream messages across a restart."""

from __future__ import annotations

import asyncio

import asyncpg
import nats
import pytest
from nats.js.api import StorageType

from tools.embedded import EmbeddedNats
from tools.postgres_admin import database_of
from tools.testing import stream_name_prefix

# What earlier tests in this module left for later ones to check (pytest runs them in file order).
left_behind: dict[str, str] = {}


async def _table_names(url: str) -> list[str]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return [row["table_name"] for row in rows]
    finally:
        await connection.close()


async def test_database_is_empty_and_accepts_a_table(database_url: str) -> None:
    assert await _table_names(database_url) == []
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        await connection.execute("CREATE TABLE marker (note text)")
        await connection.execute("INSERT INTO marker VALUES ('first test')")
        assert await connection.fetchval("SELECT note FROM marker") == "first test"
    finally:
        await connection.close()
    assert database_of(database_url).startswith("t_")
    left_behind["database"] = database_of(database_url)


async def test_each_test_has_its_own_database_and_the_last_one_is_gone(
    database_url: str, pg_server_url: str
) -> None:
    previous = left_behind.get("database")
    if previous is None:
        pytest.skip("needs the previous test of this module to have run first")
    assert database_of(database_url) != previous
    assert await _table_names(database_url) == []
    connection = await asyncpg.connect(pg_server_url, timeout=10)
    try:
        remaining = await connection.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", previous
        )
    finally:
        await connection.close()
    assert remaining == 0


async def test_a_stream_under_the_subject_prefix_can_be_created(
    nats_url: str, subject_prefix: str
) -> None:
    stream = stream_name_prefix(subject_prefix) + "FIXTURES"
    client = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        jetstream = client.jetstream(timeout=5)
        await jetstream.add_stream(name=stream, subjects=[f"{subject_prefix}fixtures.>"])
        await jetstream.publish(f"{subject_prefix}fixtures.Made.v1", b"x")
        assert (await jetstream.stream_info(stream)).state.messages == 1
    finally:
        await client.close()
    left_behind["stream"] = stream


async def test_streams_of_a_finished_test_are_deleted(nats_url: str) -> None:
    previous = left_behind.get("stream")
    if previous is None:
        pytest.skip("needs the previous test of this module to have run first")
    client = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        with pytest.raises(nats.js.errors.NotFoundError):
            await client.jetstream(timeout=5).stream_info(previous)
    finally:
        await client.close()


async def test_restartable_nats_keeps_file_stored_messages_across_a_restart(
    restartable_nats: EmbeddedNats,
) -> None:
    url_before = restartable_nats.url
    client = await nats.connect(url_before, connect_timeout=5, allow_reconnect=False)
    try:
        jetstream = client.jetstream(timeout=5)
        await jetstream.add_stream(name="DURABLE", subjects=["durable.>"], storage=StorageType.FILE)
        for n in range(3):
            await jetstream.publish("durable.Happened.v1", f"message {n}".encode())
    finally:
        await client.close()
    first_pid = restartable_nats.pid

    await asyncio.to_thread(restartable_nats.restart)

    assert restartable_nats.pid != first_pid and restartable_nats.url == url_before
    client = await nats.connect(restartable_nats.url, connect_timeout=5, allow_reconnect=False)
    try:
        jetstream = client.jetstream(timeout=5)
        assert (await jetstream.stream_info("DURABLE")).state.messages == 3
        first = await jetstream.get_msg("DURABLE", 1)
        assert first.data == b"message 0"
    finally:
        await client.close()


async def test_restartable_nats_refuses_connections_while_stopped(
    restartable_nats: EmbeddedNats,
) -> None:
    await asyncio.to_thread(restartable_nats.stop)
    assert not restartable_nats.running
    with pytest.raises((OSError, nats.errors.NoServersError)):
        await asyncio.wait_for(
            nats.connect(
                restartable_nats.url,
                connect_timeout=1,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
            ),
            10,
        )

    await asyncio.to_thread(restartable_nats.start)
    client = await nats.connect(restartable_nats.url, connect_timeout=5, allow_reconnect=False)
    await client.close()

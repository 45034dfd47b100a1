"""pytest fixtures giving every test real PostgreSQL and NATS JetStream (loaded by the root
conftest.py): an existing server named by DATABASE_URL / NATS_URL, else a testcontainers container
when a Docker engine answers, else an embedded server from the wheels.

Isolation rules:
- `database_url`: each test gets its own empty database `t_<12 hex>`, dropped (forcibly) afterwards.
- `subject_prefix`: each test gets a unique prefix `t<8 hex>.` to pass to the event library. The
  library names subjects `<prefix><service>.<Event>.v<n>` and streams
  `(<prefix with "." replaced by "_"> + <service>).upper()`, e.g. `t3f9a1c0b.` gives stream
  `T3F9A1C0B_ASSESSMENT`; at teardown every stream whose name starts with `T3F9A1C0B_` is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tools.embedded import EmbeddedNats, EmbeddedNatsCluster, EmbeddedPostgres, free_port
from tools.postgres_admin import create_database, drop_database, with_database

DOCKER_PING_TIMEOUT = 2
NATS_TIMEOUT = 5.0


def docker_available() -> bool:
    """Whether a Docker engine answers quickly (testcontainers needs one)."""
    try:
        import docker  # type: ignore[import-untyped]  # no stubs; comes with testcontainers

        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no engine, no socket, no permission: all mean "not available"
        return False


def stream_name_prefix(subject_prefix: str) -> str:
    """`t3f9a1c0b.` → `T3F9A1C0B_`: the start of every stream name created under that prefix."""
    return subject_prefix.replace(".", "_").upper()


async def delete_streams(nats_url: str, name_prefix: str) -> list[str]:
    """Delete every JetStream stream whose name starts with `name_prefix`; returns their names."""
    client = await nats.connect(
        nats_url,
        connect_timeout=NATS_TIMEOUT,
        allow_reconnect=False,
        max_reconnect_attempts=1,  # 0 would mean "retry forever" to nats-py
    )
    try:
        jetstream = client.jetstream(timeout=NATS_TIMEOUT)
        names: list[str] = []
        offset = 0
        while True:  # the API answers in pages
            reply = await client.request(
                "$JS.API.STREAM.NAMES",
                json.dumps({"offset": offset}).encode(),
                timeout=NATS_TIMEOUT,
            )
            page = json.loads(reply.data)
            batch = page.get("streams") or []
            names += batch
            offset += len(batch)
            if not batch or offset >= page.get("total", 0):
                break
        doomed = [name for name in names if name.startswith(name_prefix)]
        for name in doomed:
            await jetstream.delete_stream(name)
        return doomed
    finally:
        await client.close()


# Modules whose tests share a module-scoped running system (tests/e2e/conftest.py's `system`),
# or whose tests check what the one before left (the fixtures' own tests): each goes whole to one
# parallel worker, in order.
WHOLE_MODULES = ("tests/e2e/", "tools/tests/test_testing_fixtures.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `-n` (pytest-xdist) and its default `--dist load`: hand out the tests one by one to
    whichever worker is free (those of `WHOLE_MODULES` a module at a time, the biggest first),
    in the order collected. (`--dist loadgroup` would do the same from `xdist_group` marks, but
    loses them on pytest 9.2: pytest-dev/pytest-xdist#1386.)"""
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for: xdist's own
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class TestByTest(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module.startswith(WHOLE_MODULES) else nodeid

    return TestByTest(config, log)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`postgresql://user@host:port/postgres` of the server the tests use."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield with_database(configured, "postgres")
        return
    if docker_available():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:17-alpine", driver=None) as container:
            yield with_database(container.get_connection_url(), "postgres")
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), free_port(), durable=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nats://host:port` of the JetStream-enabled server the tests use."""
    configured = os.environ.get("NATS_URL")
    if configured:
        yield configured
        return
    if docker_available():
        from testcontainers.community.nats import NatsContainer

        with NatsContainer(jetstream=True) as container:
            yield container.nats_uri()
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"), free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test only."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await create_database(pg_server_url, name)
    try:
        yield with_database(pg_server_url, name)
    finally:
        await drop_database(pg_server_url, name)


@pytest.fixture
def nats_url(nats_server_url: str) -> str:
    return nats_server_url


@pytest.fixture
async def subject_prefix(nats_server_url: str) -> AsyncIterator[str]:
    """A prefix no other test uses; its streams are deleted afterwards (see module docstring)."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    yield prefix
    # a test that stopped the server or never touched NATS leaves nothing to clean
    with contextlib.suppress(OSError, TimeoutError, nats.errors.Error):
        await asyncio.wait_for(
            delete_streams(nats_server_url, stream_name_prefix(prefix)), NATS_TIMEOUT * 4
        )


@pytest.fixture
def restartable_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A private NATS server (own port and JetStream store) that the test may stop, start and
    restart; `.url` stays the same throughout."""
    server = EmbeddedNats(tmp_path / "restartable-nats", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def restartable_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A private PostgreSQL server (own port and cluster) that the test may stop, start and
    restart, e.g. with `await asyncio.to_thread(server.restart)`; `.url` (database `postgres`)
    stays the same throughout. Not durable (no fsync): its data outlives a restart, not a crash
    of the machine."""
    server = EmbeddedPostgres(tmp_path / "restartable-postgres", free_port(), durable=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[EmbeddedNatsCluster]:
    """A private 3-node JetStream cluster on loopback (routes, `server_name`s, a store per node)
    that the test may kill nodes of (`kill(i)`, `restart_node(i)`); `.url` lists every node,
    comma-separated, as the services' `NATS_URL` takes it."""
    cluster = EmbeddedNatsCluster(tmp_path / "nats-cluster", 3)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()

"""Benchmark infrastructure: the PostgreSQL and NATS to run against (from the environment or embedded),
a throw-away database per run, and the facts about the machine and server versions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats

from libs.events.runtime import plain_dsn


@dataclass(frozen=True)
class Infrastructure:
    """Where the benchmark runs: the server URLs and what they are."""

    admin_dsn: str  # a database to connect to for CREATE/DROP DATABASE
    nats_url: str
    origin: str  # "environment" or "embedded"


@dataclass(frozen=True)
class BenchDatabase:
    """The run's own database: `bench_<hex>`, dropped afterwards."""

    name: str
    dsn: str  # postgresql://user:password@host:port/bench_<hex>

    @property
    def sqlalchemy_url(self) -> str:
        return "postgresql+asyncpg://" + self.dsn.split("://", 1)[1]

    def eventsourcing_env(self, schema: str, pool_size: int) -> dict[str, str]:
        """The `eventsourcing` library's PostgreSQL settings for the same database."""
        parts = urlsplit(self.dsn)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.name,
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": parts.username or "postgres",
            "POSTGRES_PASSWORD": parts.password or "",
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": "0",
            "POSTGRES_CONNECT_TIMEOUT": "10",
        }


@contextlib.asynccontextmanager
async def infrastructure() -> AsyncIterator[Infrastructure]:
    """`DATABASE_URL` / `NATS_URL` when set; otherwise embedded servers in a temporary directory."""
    database_url = os.environ.get("DATABASE_URL")
    nats_url = os.environ.get("NATS_URL")
    if database_url and nats_url:
        yield Infrastructure(plain_dsn(database_url), nats_url, "environment")
        return
    # Imported lazily: only runs without external servers need the embedded binaries.
    from tools.embedded import EmbeddedNats, EmbeddedPostgres, free_port

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    servers: list[EmbeddedPostgres | EmbeddedNats] = []
    try:
        if not database_url:
            # durable (fsync on), like a real deployment: commit latency is part of the figures
            postgres = EmbeddedPostgres(workdir / "pg", free_port())
            servers.append(postgres)
            await asyncio.to_thread(postgres.start)
            database_url = postgres.url
        if not nats_url:
            nats_server = EmbeddedNats(workdir / "nats", free_port())
            servers.append(nats_server)
            await asyncio.to_thread(nats_server.start)
            nats_url = nats_server.url
        yield Infrastructure(plain_dsn(database_url), nats_url, "embedded")
    finally:
        for server in reversed(servers):
            await asyncio.to_thread(server.stop)
        shutil.rmtree(workdir, ignore_errors=True)


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def kept_database(infra: Infrastructure, name: str) -> AsyncIterator[BenchDatabase]:
    """The database `name`, created if it does not exist yet and kept afterwards (a seeded
    programme reused by later runs)."""
    admin = await asyncpg.connect(infra.admin_dsn, timeout=10)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close(timeout=5)
    yield BenchDatabase(name, _with_database(infra.admin_dsn, name))


@contextlib.asynccontextmanager
async def bench_database(infra: Infrastructure) -> AsyncIterator[BenchDatabase]:
    """Create `bench_<hex>` for this run and drop it afterwards, whatever happened."""
    name = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(infra.admin_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close(timeout=5)
    try:
        yield BenchDatabase(name, _with_database(infra.admin_dsn, name))
    finally:
        admin = await asyncpg.connect(infra.admin_dsn, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close(timeout=5)


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    python: str
    postgres: str
    nats_server: str
    infrastructure: str


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


async def describe_machine(infra: Infrastructure) -> Machine:
    connection = await asyncpg.connect(infra.admin_dsn, timeout=10)
    try:
        postgres = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close(timeout=5)
    client = await nats.connect(infra.nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        nats_version = str(client.connected_server_version)
    finally:
        await client.close()
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=_cpu_model(),
        python=platform.python_version(),
        postgres=postgres,
        nats_server=nats_version,
        infrastructure=infra.origin,
    )

"""PostgreSQL URL rewriting and database create/drop, shared by the dev stack and test fixtures."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

CONNECT_TIMEOUT = 10.0
STATEMENT_TIMEOUT = 60.0


def with_database(url: str, database: str) -> str:
    """The same server and credentials with another database, as a plain `postgresql://` URL
    (a SQLAlchemy driver suffix such as `+asyncpg` is dropped)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, f"/{database}", parts.query, ""))


def database_of(url: str) -> str:
    """The database named by a URL ('' when it names none)."""
    return urlsplit(url).path.lstrip("/")


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _connect_maintenance(server_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(with_database(server_url, "postgres"), timeout=CONNECT_TIMEOUT)


async def create_database(server_url: str, database: str, *, if_missing: bool = False) -> bool:
    """Create `database` on the server; with `if_missing`, do nothing if it exists.
    Returns whether it was created."""
    connection = await _connect_maintenance(server_url)
    try:
        if if_missing:
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", database, timeout=STATEMENT_TIMEOUT
            )
            if exists:
                return False
        try:
            await connection.execute(
                f"CREATE DATABASE {quote_identifier(database)}", timeout=STATEMENT_TIMEOUT
            )
        except asyncpg.DuplicateDatabaseError:
            if not if_missing:
                raise
            return False  # created concurrently by someone else
        return True
    finally:
        await connection.close(timeout=CONNECT_TIMEOUT)


async def drop_database(server_url: str, database: str) -> None:
    """Drop `database`, disconnecting anyone still connected to it."""
    connection = await _connect_maintenance(server_url)
    try:
        await connection.execute(
            f"DROP DATABASE IF EXISTS {quote_identifier(database)} WITH (FORCE)",
            timeout=STATEMENT_TIMEOUT,
        )
    finally:
        await connection.close(timeout=CONNECT_TIMEOUT)

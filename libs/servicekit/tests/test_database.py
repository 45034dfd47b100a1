"""The service engine's pool: a pooled connection whose backend went away is replaced at checkout
(without the per-checkout ping), so the next request runs on a live connection."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from libs.servicekit.database import create_engine
from libs.servicekit.settings import ServiceSettings


async def test_a_connection_whose_backend_was_terminated_is_replaced_at_checkout(
    database_url: str,
) -> None:
    engine = create_engine(
        ServiceSettings(service_name="test", database_url=database_url), pool_size=1
    )
    try:
        async with engine.connect() as connection:
            first_backend = await connection.scalar(text("SELECT pg_backend_pid()"))
        # the pooled connection's backend is ended from another session, as a server restart would
        other = create_engine(
            ServiceSettings(service_name="test", database_url=database_url), pool_size=1
        )
        try:
            async with other.connect() as connection:
                await connection.scalar(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": first_backend}
                )
        finally:
            await other.dispose()
        # asyncpg sees the socket close on the event loop; give it the moment that takes
        await asyncio.sleep(0.5)
        async with engine.connect() as connection:
            backend = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert backend != first_backend
    finally:
        await engine.dispose()

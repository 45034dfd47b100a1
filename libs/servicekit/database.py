"""The service's SQLAlchemy engine, built from its settings, and its place in the app lifespan."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.servicekit.settings import ServiceSettings, async_database_url


def create_engine(settings: ServiceSettings, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine; nothing connects until first use."""
    engine = create_async_engine(
        async_database_url(settings.database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
    )
    refuse_closed_connections(engine)
    return engine


def refuse_closed_connections(engine: AsyncEngine) -> None:
    """Replace a pooled connection whose socket has closed (a restarted or failed-over server,
    a terminated backend) when it is checked out, without a round trip.

    `pool_pre_ping` would send a ping on every checkout: with a few checkouts per request that
    was the largest share of a command's round trips. asyncpg learns of a closed socket from the
    event loop as it happens, so asking the connection is enough for the common case; a connection
    that dies mid-statement is invalidated by SQLAlchemy's disconnect handling and that request
    fails once, as it would with a ping (a ping protects only the checkout, not the statements)."""

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            # the pool discards it and checks out (or opens) another
            raise exc.DisconnectionError("the pooled connection is closed")


class EngineLifecycle:
    """Closes the engine's pool at shutdown. Put it first in the lifecycle: components stop in
    reverse order, so the pool closes after everything that uses it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.engine.dispose()

"""The service's SQLAlchemy engine, built from its settings, and its place in the app lifespan."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.servicekit.settings import ServiceSettings, async_database_url


def create_engine(settings: ServiceSettings, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine; nothing connects until first use."""
    return create_async_engine(
        async_database_url(settings.database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


class EngineLifecycle:
    """Closes the engine's pool at shutdown. Put it first in the lifecycle: components stop in
    reverse order, so the pool closes after everything that uses it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.engine.dispose()

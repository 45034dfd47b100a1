"""What the routers share: who may call, the handlers' dependencies, and reads on the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.errors import NotFound
from libs.events.store import EventStore
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.service import dependencies
from services.notifications import queries
from services.notifications.handlers import Dependencies

AdminOrBuyer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.BUYER))]
Deps = Annotated[Dependencies, Depends(dependencies)]


def tenant(principal: Principal) -> str | None:
    """The buyer a buyer user is limited to; None for admins (every buyer)."""
    if principal.role is Role.BUYER:
        if not principal.buyer_id:
            raise NotFound("no buyer")  # a buyer token without its buyer sees nothing
        return principal.buyer_id
    return None


@asynccontextmanager
async def reading(deps: Dependencies) -> AsyncIterator[AsyncConnection]:
    """A connection for queries (the request's transaction when one is open)."""
    store = deps.store
    assert isinstance(store, EventStore)
    async with store.reading() as connection:
        yield connection


async def endpoint_or_404(deps: Dependencies, endpoint_id: str, tenant: str | None) -> Any:
    """The endpoint's row, if it exists and (for a buyer user) is its buyer's."""
    async with reading(deps) as connection:
        row = await queries.endpoint_row(connection, endpoint_id, tenant)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return row

"""What every router of buyer sharing shares: the role aliases, the service's dependencies
(`Deps`) and the tenancy rule for buyers; commands run with the library's `run_as`.

Tenancy: a buyer user acts only for the buyer of its `buyer_id` claim, a factory user only for
the factory of its `factory_id` claim; anything of another tenant, or a factory not shared with
the buyer, is a 404 (never a 403), so nobody learns that it exists. Staff (here: admins) act within
their country programmes (`Principal.works_in`): a factory of another country, or of a country
not known here, is a 404 to a programme admin and absent from its lists; the headquarters' admin
(`countries: "*"`) works in every country.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change
from libs.domain.errors import NotFound
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.service import dependencies
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.queries import consent
from services.buyer_sharing.schemas import CountryCode

Deps = Annotated[Dependencies, Depends(dependencies)]

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
AdminOrBuyer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.BUYER))]
BuyerUser = Annotated[Principal, Depends(require_roles(Role.BUYER))]
FactoryUser = Annotated[Principal, Depends(require_roles(Role.FACTORY))]
AdminOrFactory = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.FACTORY))]
Party = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.BUYER, Role.FACTORY))]
CountryFilter = Annotated[CountryCode | None, Query()]
Year = Annotated[int, Query(ge=2000, le=2099)]


def answer_of(change: Change[Any]) -> dict[str, Any]:
    """The row the command's own transaction read back for the caller (`Change.answer`)."""
    row: dict[str, Any] | None = change.answer
    assert row is not None  # projected in the command's transaction
    return row


def staff_countries(principal: Principal) -> frozenset[str] | None:
    """The countries a caller's lists are limited to: a programme's staff's; None for the
    headquarters and for tenants (whose own rules limit what they see)."""
    return principal.countries if principal.is_staff else None


async def within_programme(
    connection: AsyncConnection, principal: Principal, factory_id: str
) -> None:
    """A staff caller acts on `factory_id` only if it works in the factory's country (else a
    404, as for another tenant's); tenants and the headquarters pass."""
    if not principal.is_staff or principal.is_global:
        return
    if not principal.works_in(await consent.factory_country(connection, factory_id)):
        raise NotFound(f"factory {factory_id} not found")


async def require_programme(deps: Dependencies, principal: Principal, factory_id: str) -> None:
    """`within_programme` on a connection of its own (before a command runs)."""
    if not principal.is_staff or principal.is_global:
        return
    async with deps.store.reading() as connection:
        await within_programme(connection, principal, factory_id)


def own_buyer(principal: Principal, buyer_id: str) -> None:
    """Admins see every buyer; a buyer user only its own (another's is a 404)."""
    if principal.role is Role.BUYER and principal.buyer_id != buyer_id:
        raise NotFound(f"buyer {buyer_id} not found")

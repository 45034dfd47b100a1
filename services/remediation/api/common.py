"""What the remediation routers share: the typed dependencies, running a command on behalf of the
caller, and the access rules every route checks before anything else (tenant, role and country
programme: the plan's read model knows its factory's country)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from libs.servicekit.auth import Principal, Role
from libs.servicekit.problems import Forbidden, NotFound
from libs.servicekit.service import dependencies
from services.remediation import queries
from services.remediation.handlers import Remediation

Deps = Annotated[Remediation, Depends(dependencies)]
"""The handlers' dependencies: the routes' queries read on `deps.store.reading()`."""


async def check_access(deps: Remediation, principal: Principal, factory_id: str) -> None:
    """Who may reach a factory's plan and committee at all: buyers never (403: they see progress
    through buyer sharing), nor trainers (403: the advisory service's staff, as in assessment); a
    factory user its own only; admins and assessors the factories of their country programmes
    only (a global admin every one). Another tenant's and another programme's factory is a 404,
    as if it did not exist."""
    if principal.role is Role.BUYER:
        raise Forbidden("Buyers see remediation progress through buyer sharing, not here.")
    if principal.role is Role.TRAINER:
        raise Forbidden("Trainers work in the advisory service; plans are the assessors' here.")
    if principal.role is Role.FACTORY:
        if principal.factory_id != factory_id:
            raise _not_found(factory_id)
        return
    if principal.countries is None:
        return  # the headquarters' staff (and, in development, a token without the claim)
    async with deps.store.reading() as connection:
        country = await queries.plan_country(connection, factory_id)
    if not principal.works_in(country):
        raise _not_found(factory_id)


def _not_found(factory_id: str) -> NotFound:
    return NotFound(f"No improvement plan or committee for factory {factory_id}.")


async def require_factory_user(
    deps: Remediation, principal: Principal, factory_id: str, what: str
) -> None:
    await check_access(deps, principal, factory_id)
    if principal.role is not Role.FACTORY:
        raise Forbidden(f"Only the factory's own users {what}.")


async def require_committee_editor(
    deps: Remediation, principal: Principal, factory_id: str
) -> None:
    await check_access(deps, principal, factory_id)
    if principal.role not in (Role.FACTORY, Role.ADMIN):
        raise Forbidden("Only the factory's users and admins keep its committee.")

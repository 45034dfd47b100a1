"""What the remediation routers share: the typed dependencies, running a command on behalf of the
caller, and the path-level access rules every route checks before anything else."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from libs.domain.aggregate import Change
from libs.domain.envelope import event_context
from libs.servicekit.auth import Principal, Role
from libs.servicekit.problems import Forbidden, NotFound
from libs.servicekit.service import RunCommand, dependencies
from services.remediation.handlers import Remediation

Deps = Annotated[Remediation, Depends(dependencies)]
"""The handlers' dependencies: the routes' queries read on `deps.store.reading()`."""


async def run_as(
    run: RunCommand, principal: Principal, correlation_id: str | None, command: object
) -> Change[Any]:
    """Run the command through its handler, its events correlated and attributed to the caller."""
    with event_context(correlation_id=correlation_id, actor=principal.subject):
        return await run(command)


def check_access(principal: Principal, factory_id: str) -> None:
    """Buyers have no access here; a factory sees only its own plan and committee."""
    if principal.role is Role.BUYER:
        raise Forbidden("Buyers see remediation progress through buyer sharing, not here.")
    if principal.role is Role.FACTORY and principal.factory_id != factory_id:
        raise NotFound(f"No improvement plan or committee for factory {factory_id}.")


def require_factory_user(principal: Principal, factory_id: str, what: str) -> None:
    check_access(principal, factory_id)
    if principal.role is not Role.FACTORY:
        raise Forbidden(f"Only the factory's own users {what}.")


def require_committee_editor(principal: Principal, factory_id: str) -> None:
    check_access(principal, factory_id)
    if principal.role not in (Role.FACTORY, Role.ADMIN):
        raise Forbidden("Only the factory's users and admins keep its committee.")

"""What the advisory routers share: the role and parameter aliases, the caller as the domain's
`Actor`, the dependencies as an `Annotated` alias, and running a command on the caller's behalf."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response

from libs.domain.aggregate import Change
from libs.domain.types import ID_MAX_LENGTH, ID_PATTERN
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.http import set_etag
from libs.servicekit.service import dependencies
from services.advisory.domain.actor import Actor
from services.advisory.handlers.dependencies import Dependencies

Anyone = Annotated[
    Principal,
    Depends(require_roles(Role.ADMIN, Role.ASSESSOR, Role.TRAINER, Role.FACTORY, Role.BUYER)),
]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
Staff = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR, Role.TRAINER))]
Trainer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.TRAINER))]
Advisor = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR))]
Reader = Annotated[
    Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR, Role.TRAINER, Role.FACTORY))
]
Country = Annotated[
    str | None,
    Query(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$", examples=["KH"]),
]
Year = Annotated[int | None, Query(ge=2000, le=2099)]

Deps = Annotated[Dependencies, Depends(dependencies)]


def actor_of(principal: Principal) -> Actor:
    return Actor(
        subject=principal.subject,
        role=principal.role.value,
        factory_id=principal.factory_id,
        countries=principal.countries,
    )


def answered(change: Change[Any], response: Response) -> dict[str, Any]:
    """A command's answer: the resource's row as the command's own transaction left it."""
    row = change.answer
    if row is None:
        raise RuntimeError(f"no answer was read for {change.before.aggregate_id}")
    set_etag(response, row["version"])
    return dict(row)


def upper(country: str | None) -> str | None:
    return country.upper() if country else None


IdQuery = Annotated[str | None, Query(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
"""An identifier as a query parameter (a filter)."""

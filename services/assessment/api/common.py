"""What the assessment routers share: the role and parameter aliases, the service's dependencies
and read side as `Annotated` aliases, the caller's country programmes, and running a command on
behalf of the caller."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query

from libs.domain.types import ID_MAX_LENGTH, ID_PATTERN
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.http import PageParams, invalid_cursor
from libs.servicekit.service import dependencies
from services.assessment.domain.scope import NO_COUNTRY, CountryScope
from services.assessment.handlers.dependencies import Dependencies, Reads

Staff = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR))]
Reader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR, Role.FACTORY))]
FactoryUser = Annotated[Principal, Depends(require_roles(Role.FACTORY))]
Country = Annotated[
    str | None, Query(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$", examples=["KH"])
]

Deps = Annotated[Dependencies, Depends(dependencies)]


def read_side(deps: Deps) -> Reads:
    if deps.reads is None:  # only handler unit tests build dependencies without read models
        raise RuntimeError("the assessment service runs without its read models")
    return deps.reads


ReadModels = Annotated[Reads, Depends(read_side)]


def scope_of(principal: Principal) -> CountryScope:
    """The country programmes a staff member's commands may act in (the token's `countries`;
    every country for the headquarters); nothing for anyone else."""
    return CountryScope(principal.countries) if principal.is_staff else NO_COUNTRY


def may_read_country(principal: Principal, country: str) -> bool:
    """Whether a reader of a factory's own data passes the country check: staff of that country
    programme (or the headquarters); a factory user is checked on its own factory instead."""
    return principal.role is Role.FACTORY or principal.works_in(country)


def listed_countries(principal: Principal) -> frozenset[str] | None:
    """The countries a list shows the caller: a staff member's programmes (None: every one);
    a factory user's list is narrowed to its own factory instead."""
    return principal.countries if principal.is_staff else None


_IDENTIFIER = re.compile(ID_PATTERN)


def after_id(pagination: PageParams) -> str | None:
    """The identifier a list's cursor says its page starts after (None: the first page). Ids are
    what `ResourceId` allows, so anything else (a lone surrogate, which the cursor's `str` kind
    lets through and PostgreSQL cannot take: a 500 before this) is a cursor this API never
    issued: the same 400 `invalid-cursor`."""
    position = pagination.position(after=str)
    if position is None:
        return None
    after: str = position["after"]
    if len(after) > ID_MAX_LENGTH or not _IDENTIFIER.fullmatch(after):
        raise invalid_cursor()
    return after

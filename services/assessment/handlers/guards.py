"""Checks the assessment handlers share: an aggregate that must exist, in one of the caller's
country programmes, before a command on it, and which unique index refused a write that raced
another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from libs.domain.aggregate import Loaded
from libs.domain.errors import NotFound
from services.assessment.domain.scope import CountryScope


class OfACountry(Protocol):
    """A factory, or an assessment (the country it pinned when it was scheduled)."""

    @property
    def country(self) -> str: ...


def must_exist_in(
    scope: CountryScope, kind: str, aggregate_id: str
) -> Callable[[Loaded[Any]], None]:
    """The repository's authorize step: the aggregate exists and is of a country the caller works
    in; another programme's is 'not found', as another tenant's (never 403, which would tell it
    exists). It runs before an idempotent retry is replayed and before If-Match is checked."""

    def authorize(loaded: Loaded[Any]) -> None:
        state: OfACountry | None = loaded.state
        if state is None or not scope.covers(state.country):
            raise NotFound(f"{kind} {aggregate_id} does not exist")

    return authorize


def unique_violation(error: IntegrityError, constraint: str) -> bool:
    return constraint in str(error.orig)

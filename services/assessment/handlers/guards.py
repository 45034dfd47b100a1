"""Checks the assessment handlers share: an aggregate that must exist before a command on it, and
which unique index refused a write that raced another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from libs.domain.aggregate import Loaded
from libs.domain.errors import NotFound


def must_exist(kind: str, aggregate_id: str) -> Callable[[Loaded[Any]], None]:
    def authorize(loaded: Loaded[Any]) -> None:
        if loaded.state is None:
            raise NotFound(f"{kind} {aggregate_id} does not exist")

    return authorize


def unique_violation(error: IntegrityError, constraint: str) -> bool:
    return constraint in str(error.orig)

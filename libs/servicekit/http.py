"""HTTP conventions of the public contract: aggregate versions as strong ETags and `If-Match`,
and opaque cursor pagination."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Response
from pydantic import BaseModel, Field

from libs.servicekit.problems import BadRequest, PreconditionFailed

T = TypeVar("T")

MAX_CURSOR_LENGTH = 2048
_ENTITY_TAG = re.compile(r'^"(\d{1,18})"$|^(\d{1,18})$')


def etag_for(version: int) -> str:
    """The strong entity tag of an aggregate version: `"7"`."""
    return f'"{int(version)}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_for(version)


def parse_if_match(header: str | None) -> int | None:
    """The version an `If-Match` header expects; None when absent or `*` (any version).

    A single strong tag is accepted (a bare number too, as integrators often forget the quotes);
    anything else (weak tags, lists, garbage) is a 412 problem, as a weak tag can never match
    under the strong comparison RFC 9110 prescribes for If-Match.
    """
    if header is None:
        return None
    value = header.strip()
    if value == "*":
        return None
    match = _ENTITY_TAG.match(value)
    if match is None:
        raise PreconditionFailed(
            'If-Match must be a single strong entity tag such as "3", as sent in ETag.',
            type_slug="malformed-if-match",
        )
    return int(match.group(1) or match.group(2))


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for the position after which the next page starts."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _invalid_cursor() -> BadRequest:
    return BadRequest(
        "The cursor is not one this API issued; start again without a cursor.",
        title="Invalid cursor",
        type_slug="invalid-cursor",
    )


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position encoded by `encode_cursor`; a 400 problem when the cursor was tampered with."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _invalid_cursor() from None
    if not isinstance(position, dict):
        raise _invalid_cursor()
    return position


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one (null: no more)."""

    items: list[T]
    next_cursor: str | None = Field(
        None, description="Opaque cursor of the next page; null when this is the last page."
    )


class PageParams:
    """Query parameters of a paginated list (use as `Pagination` or `Depends(PageParams)`)."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
        cursor: Annotated[
            str | None,
            Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page."),
        ] = None,
    ) -> None:
        self.limit = limit
        self.cursor = cursor

    def position(self) -> dict[str, Any] | None:
        """The decoded cursor, or None for the first page."""
        return decode_cursor(self.cursor) if self.cursor is not None else None


Pagination = Annotated[PageParams, Depends(PageParams)]

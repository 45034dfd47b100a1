"""HTTP conventions of the public contract: aggregate versions as strong ETags and `If-Match`,
opaque cursor pagination, and the headers writes accept, each described in the OpenAPI document
as the server enforces it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Query, Response
from pydantic import BaseModel, Field

from libs.servicekit.idempotency import MAX_KEY_LENGTH
from libs.servicekit.problems import BadRequest, PreconditionFailed

T = TypeVar("T")
R = TypeVar("R")

MAX_CURSOR_LENGTH = 2048
# base64url without padding, as `encode_cursor` writes it
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
# the longest string a cursor position may hold (identifiers, ISO dates)
MAX_POSITION_TEXT = 200
IF_MATCH_PATTERN = r'^(\*|"[0-9]{1,18}"|[0-9]{1,18})$'
_ENTITY_TAG = re.compile(r'^"(\d{1,18})"$|^(\d{1,18})$')

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The version the change expects, as sent in `ETag` (`"3"`), or `*`. Anything '
        "else is a 412 problem; a version the resource is no longer at is a 412 too.",
        # Enforced by `parse_if_match` (412), not by request validation (422): RFC 9110 says a
        # precondition that cannot hold fails with 412.
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    ),
]
"""The `If-Match` header of a write; pass it to `parse_if_match`."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Makes the write safe to retry: a repeat with the same key and body gets the "
        "first answer again. Outside 1 to 255 characters it is a 400 problem.",
    ),
]
"""Documents the `Idempotency-Key` header the idempotency middleware handles before the route."""


CorrelationId = Annotated[
    str | None,
    Header(
        alias="X-Correlation-Id",
        max_length=200,
        # printable ASCII: a header's bytes are read as Latin-1, so other text would not round-trip
        pattern=r"^[\t -~]*$",
        description="Ties the events this request causes to the caller's own flow; echoed in "
        "their `correlationid`.",
    ),
]
"""The `X-Correlation-Id` header of a write."""


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


def invalid_cursor() -> BadRequest:
    return BadRequest(
        "The cursor is not one this API issued; start again without a cursor.",
        title="Invalid cursor",
        type_slug="invalid-cursor",
    )


class Int64:
    """A cursor field kind: a non-negative 64-bit integer (a `bigint` or `bigserial` column)."""


# What a position may hold, by kind: every value is checked to fit the column it is compared
# with, so an edited cursor is a 400 here, never an overflow in SQL or in date arithmetic.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
EARLIEST_POSITION = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_POSITION = datetime(2100, 1, 1, tzinfo=UTC)


def decode_cursor(cursor: str, fields: dict[str, type] | None = None) -> dict[str, Any]:
    """The position encoded by `encode_cursor`; a 400 problem when the cursor was tampered with.

    With `fields` (name → kind), the position must hold exactly those members, each of its kind
    and in its range: `str` (at most 200 characters, no NUL or lone surrogate), `int` (0 to 2^31 - 1: an `integer`
    column or an offset), `Int64` (0 to 2^63 - 1), `date` (ISO, 2000-01-01 to 2099-12-31) and
    `datetime` (ISO with an offset or UTC, between 2000 and 2100 once in UTC; returned aware, in
    UTC). A cursor for another list, or one edited by hand, never reaches a query.
    """
    if not 0 < len(cursor) <= MAX_CURSOR_LENGTH or not re.fullmatch(CURSOR_PATTERN, cursor):
        raise invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        # ValueError covers bad UTF-8 and bad JSON; RecursionError a deeply nested document
        raise invalid_cursor() from None
    if not isinstance(position, dict):
        raise invalid_cursor()
    if fields is None:
        return position
    if set(position) != set(fields):
        raise invalid_cursor()
    return {name: _position_value(position[name], kind) for name, kind in fields.items()}


def _position_value(value: Any, kind: type) -> Any:
    if kind is int or kind is Int64:
        highest = INT32_MAX if kind is int else INT64_MAX
        if type(value) is not int or not 0 <= value <= highest:
            raise invalid_cursor()
        return value
    if not isinstance(value, str) or len(value) > MAX_POSITION_TEXT or "\x00" in value:
        raise invalid_cursor()
    try:
        # JSON may spell a lone surrogate (\ud800), which no database text can hold
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_cursor() from None
    if kind is date:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise invalid_cursor() from None
        if not EARLIEST_POSITION.date() <= day < LATEST_POSITION.date():
            raise invalid_cursor()
        return day
    if kind is datetime:
        return _position_time(value)
    if kind is not str:
        raise TypeError(f"no cursor field kind {kind!r}")
    return value


def _position_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # year 1 at +01:00 is before year 1 in UTC: the conversion itself overflows
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid_cursor() from None
    if not EARLIEST_POSITION <= moment < LATEST_POSITION:
        raise invalid_cursor()
    return moment


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
            Query(
                description="`next_cursor` of the previous page. A cursor this API did not issue "
                "is a 400 problem.",
                # Checked by `decode_cursor` (400, as before), so only documented here.
                json_schema_extra={
                    "pattern": CURSOR_PATTERN,
                    "minLength": 1,
                    "maxLength": MAX_CURSOR_LENGTH,
                },
            ),
        ] = None,
    ) -> None:
        self.limit = limit
        self.cursor = cursor

    def position(self, **fields: type) -> dict[str, Any] | None:
        """The decoded cursor (checked against `fields`, see `decode_cursor`), or None for the
        first page."""
        if self.cursor is None:
            return None
        return decode_cursor(self.cursor, fields or None)


Pagination = Annotated[PageParams, Depends(PageParams)]


def next_page(
    rows: Sequence[R], limit: int, position: Callable[[R], dict[str, Any]]
) -> tuple[list[R], str | None]:
    """One page out of `limit + 1` fetched rows, and the cursor after it when there are more
    (fetch one more than the page size; that row only says a next page exists)."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(position(page[-1]))

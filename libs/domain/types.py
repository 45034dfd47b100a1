"""Field types every service shares: text without control characters, identifiers and plausible
dates, each enforced by validation and stated in the OpenAPI document. Pure: pydantic only.

PostgreSQL cannot store NUL in `text` or `jsonb`, and nothing legitimate needs the other C0 control
characters, so they are refused at the edge with a 422 rather than failing deep in a write.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

# C0 controls and DEL. `\t`, `\n` and `\r` are allowed in multi-line text only. Written as explicit
# ranges (not `\s` / `\S`), which mean the same in Python, Rust and ECMA-262 regular expressions,
# so generated clients and the server agree on what is valid.
_LINE_FORBIDDEN = r"\x00-\x1f\x7f"
_TEXT_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"

LINE_PATTERN = f"^[^{_LINE_FORBIDDEN}]*$"
TEXT_PATTERN = f"^[^{_TEXT_FORBIDDEN}]*$"
# A token (a document id, a URL): no whitespace of either regex dialect, no control characters.
_WHITESPACE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
TOKEN_PATTERN = f"^[^{_WHITESPACE}]+$"

ID_MAX_LENGTH = 64
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

# Dates of the domain: nothing this programme records happened before 2000, and nothing is
# planned past 2099. The pattern says so to clients; services check tighter windows where the
# domain has one (a meeting is not in the future, an assessment is at most a year ahead).
EARLIEST_DATE = date(2000, 1, 1)
DATE_PATTERN = r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"
# An RFC 3339 time whose year is 1999 to 2100 (an offset may move it across a year's end); the
# validator checks the exact range once in UTC.
DATETIME_PATTERN = r"^(1999|20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}[Tt ]"

SafeLine = Annotated[str, StringConstraints(pattern=LINE_PATTERN)]
"""One line of text (a name, a title): no control characters at all. Add a max_length where used."""

SafeText = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
"""Free text that may span lines (evidence, decisions, reasons): no control characters other than
tab, line feed and carriage return. Add a max_length where used."""

Token = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN, min_length=1)]
"""A reference without spaces or control characters (a document id, a URL)."""

ResourceId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN),
    Field(description="An identifier: letters, digits, `_`, `.`, `-`; at most 64 characters."),
]
"""An identifier carried in a body or a query."""

PlausibleDate = Annotated[
    date,
    Field(
        ge=EARLIEST_DATE,
        le=date(2099, 12, 31),
        json_schema_extra={"pattern": DATE_PATTERN},
    ),
]
"""A calendar date between 2000-01-01 and 2099-12-31."""

EARLIEST_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_MOMENT = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible_moment(value: datetime) -> datetime:
    """In UTC, between 2000 and 2100: year 1 at an offset overflows when it is converted, and
    nothing this programme records happened before 2000."""
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("the time is out of range (2000 to 2100)") from None
    if not EARLIEST_MOMENT <= moment < LATEST_MOMENT:
        raise ValueError("the time is out of range (2000 to 2100)")
    return moment


PlausibleDateTime = Annotated[
    AwareDatetime,
    AfterValidator(_plausible_moment),
    Field(
        description="A time with its offset, between 2000-01-01 and 2100-01-01 (UTC)",
        json_schema_extra={"pattern": DATETIME_PATTERN},
    ),
]
"""A moment with an offset, between 2000 and 2100 once in UTC; returned in UTC."""

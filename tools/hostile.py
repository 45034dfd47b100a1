"""Hostile values for the property-based tests of every service, and the way to run such a property
against the running app on real PostgreSQL and NATS.

The input that breaks a service is the one no schema-driven generator draws (issue 22, finding 5):
2^31 and its neighbours, 3,000,000,000, 2^63 and 2^64 and their negatives, year 1 and 9999 at an
offset, naive times, February 30, NUL, lone surrogates, very long strings, any JSON where a string
was expected. The strategies here draw those first and then anything; each service's property
tests take them from here and keep only what is truly theirs (their cursors' fields, their
clock's day, the URLs of webhooks).

- numbers: `EXTREME_INTS`, `EXTREME_NUMBERS` (and floats: 0.5, 1e308, NaN, the infinities),
  `EXTREME_YEARS`, `ANY_YEAR`;
- dates and times: `EXTREME_DAYS`, `EXTREME_TIMES`, `ANY_DATE` (either, as a client may send it
  in a date or a time field);
- text: `EXTREME_TEXTS`, `ANY_TEXT`; JSON: `ANY_JSON` (NaN, the infinities and lone surrogates
  included: Python's `json` reads them all), `ANY_VALUE` (all of the above, for a JSON member);
- cursors: `forged_cursor` (a position as a client could forge it), `positions` (a cursor's
  position with hostile fields, strangers, missing members or no object at all), `cursors`
  (those forged, and any text), `CURSOR_TEXTS`;
- sending what a client library refuses to: `json_body` (NaN, the infinities and lone surrogates
  spelled as JSON may spell them), `query_value` (a lone surrogate as its raw bytes);
- running: `for_all` runs a property as coroutines on the test's own event loop (examples drawn
  in a worker thread, each run where the app and its pools live, with a timeout);
  `examples` are the settings for a `@given` test that shares its fixtures between examples.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.servicekit.http import INT32_MAX, INT64_MAX

T = TypeVar("T")

EXAMPLE_TIMEOUT_SECONDS = 30
INT32_MIN = -(2**31)
INT64_MIN = -(2**63)

# numbers: the edges of 32 and 64 bits on both sides, 3,000,000,000 (the live finding: cast to
# a 32-bit integer in SQL, it was a 500), past 64 bits
EXTREME_INTS = st.sampled_from(
    [
        -1,
        0,
        1,
        INT32_MAX - 1,
        INT32_MAX,
        INT32_MAX + 1,
        2**32,
        3_000_000_000,
        INT64_MAX - 1,
        INT64_MAX,
        INT64_MAX + 1,
        2**64,
        10**30,
        INT32_MIN,
        INT32_MIN - 1,
        INT64_MIN,
        INT64_MIN - 1,
        -(2**64),
    ]
)
EXTREME_FLOATS = st.sampled_from(
    [0.5, -0.0, 1e308, -1e308, 5e-324, float("inf"), float("-inf"), float("nan")]
)
EXTREME_NUMBERS = EXTREME_INTS | EXTREME_FLOATS
EXTREME_YEARS = st.sampled_from(
    [-1, 0, 1, 999, 1999, 2000, 2024, 2025, 2026, 2099, 2100, 9999, 10000, 2**31, 2**63, 10**30]
)

# dates and times: year 1 and 9999 at offsets (one side of UTC is out of range), the edges of the
# plausible range, impossible, naive and malformed ones, and a NUL after a valid one
EXTREME_DAYS = st.sampled_from(
    [
        "0001-01-01",
        "9999-12-31",
        "1999-12-31",
        "2000-01-01",
        "2099-12-31",
        "2100-01-01",
        "2023-02-29",
        "2024-02-30",
        "2025-02-30",
        "2026-02-30",
        "2024-13-01",
        "2026-13-01",
        "2024-00-10",
        "2024-01-00",
        "2024-3-5",
        "20240305",
        "20261207",
        "+002025-06-02",
        "-0001-01-01",
        "10000-01-01",
        "2024-03-05T00:00:00+14:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "",
        "today",
        "now",
        "2024-03-05\x00",
    ]
)
EXTREME_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00-01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59+14:00",
        "1999-12-31T23:59:59+00:00",
        "2100-01-01T00:00:00+00:00",
        "1970-01-01T00:00:00Z",
        "2038-01-19T03:14:08Z",
        "2026-02-30T00:00:00Z",
        "2026-12-07T24:00:00Z",
        "2026-12-07T10:00:00",
        "2026-12-07T10:00:00+25:00",
        "2026-12-07T10:00:00.123456789Z",
        "2026-12-07 10:00:00Z",
        "2026-12-07",
        "",
        "now",
        "2026-12-07T10:00:00Z\x00",
    ]
)

# text: NUL, lone surrogates (which PostgreSQL cannot encode), the longest a field takes and one
# more, far longer ones, characters outside the BMP, full-width letters, SQL
EXTREME_TEXTS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff",
        "a\udfffb",
        "x" * 200,
        "x" * 201,
        "x" * 5000,
        "é" * 200,
        "\U0001f600",
        "\uff46\uff41\uff43\uff54",  # full-width letters
        "\u202eevil",  # right-to-left override
        "' OR 1=1 --",
        "'; DROP TABLE x; --",
        "null",
    ]
)
ANY_TEXT = (
    EXTREME_TEXTS
    | st.text(st.characters(exclude_categories=()), max_size=250)  # lone surrogates too
    | st.text(max_size=250)
)

# JSON as Python's json module reads it (so as a cursor decoder or a request body parser does):
# NaN and the infinities, lone surrogates, the extreme numbers and texts at the leaves
ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | EXTREME_NUMBERS
    | st.integers()
    | st.floats()
    | EXTREME_TEXTS
    | st.text(st.characters(exclude_categories=()), max_size=30),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=5), children, max_size=3
        )
    ),
    max_leaves=10,
)
ANY_DATE = (
    EXTREME_DAYS
    | EXTREME_TIMES
    | st.dates().map(date.isoformat)
    | st.datetimes().map(datetime.isoformat)
    | st.datetimes(timezones=st.timezones()).map(datetime.isoformat)
    | EXTREME_NUMBERS
    | EXTREME_TEXTS
    | ANY_JSON
)
ANY_YEAR = (
    EXTREME_YEARS
    | EXTREME_NUMBERS
    | EXTREME_TEXTS
    | EXTREME_DAYS
    | st.integers()
    | st.text(max_size=20)
)
ANY_VALUE = (
    EXTREME_NUMBERS
    | EXTREME_TEXTS
    | EXTREME_DAYS
    | EXTREME_TIMES
    | st.integers()
    | ANY_TEXT
    | ANY_JSON
)

# what a client library can send as a cursor (it refuses a lone surrogate in a query)
CURSOR_TEXTS = st.sampled_from(
    ["", "=", "=" * 3000, "x" * 5000, "\x00", "%00", "a b", "e30", "e30=", "e30==", "W10", "bnVsbA"]
) | st.text(max_size=300)


def forged_cursor(position: Any) -> str:
    """A cursor as a client could forge it: any JSON (NaN, the infinities and lone surrogates
    escaped, as a hand-written JSON document may hold them), base64url without padding."""
    raw = json.dumps(position, ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def positions(
    fields: Mapping[str, st.SearchStrategy[Any]], *, strangers: Sequence[str] = ("extra",)
) -> st.SearchStrategy[Any]:
    """A cursor's position as a client could edit it: exactly these fields with their hostile
    values, those and members this list does not know (`strangers`: another list's fields, one
    too many), any of these members with any value (some missing, none at all), or any JSON."""
    exact = st.fixed_dictionaries(dict(fields))
    names = [*fields, *strangers]
    member = st.one_of(*fields.values(), ANY_VALUE)
    too_many = st.dictionaries(st.sampled_from(list(strangers)), member, min_size=1)
    return (
        exact
        | st.tuples(exact, too_many).map(lambda both: {**both[0], **both[1]})
        | st.dictionaries(st.sampled_from(names), member, max_size=len(names))
        | ANY_JSON
    )


def cursors(
    fields: Mapping[str, st.SearchStrategy[Any]], *, strangers: Sequence[str] = ("extra",)
) -> st.SearchStrategy[str]:
    """Any text, and the `positions` of these fields forged into cursors."""
    return CURSOR_TEXTS | positions(fields, strangers=strangers).map(forged_cursor)


JSON_CONTENT = {"Content-Type": "application/json"}


def json_body(value: Any) -> bytes:
    """`value` as a JSON request body (send it with `JSON_CONTENT`): NaN, the infinities and lone
    surrogates spelled as a hand-written document may spell them, which httpx's `json=` refuses."""
    return json.dumps(value, ensure_ascii=True).encode()


def query_value(value: Any) -> str:
    """`value` percent-encoded by hand for a query string: a lone surrogate goes as the bytes a
    client could send, where httpx's `params=` refuses it."""
    return quote(str(value), safe="", errors="surrogatepass")


def examples(count: int = 60) -> settings:
    """Settings for a `@given` test (pytest-asyncio runs each example on the test's loop) whose
    app and database are set up once for all its examples: every example only reads, or is
    refused and changes nothing (the test asserts it), so sharing them is the point."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


async def for_all(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Coroutine[Any, Any, None]],
    *,
    examples: int = 100,
) -> None:
    """Run `check` on `examples` values Hypothesis draws from `strategy`, shrinking a failure to
    the smallest value that fails. Hypothesis draws in a worker thread; each example runs as a
    coroutine on this loop (where the app, its database pool and its NATS connection live) and
    fails after `EXAMPLE_TIMEOUT_SECONDS`, cancelled."""
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(strategy)
    def run(value: T) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(check(value), loop)
        try:
            future.result(timeout=EXAMPLE_TIMEOUT_SECONDS)
        except TimeoutError:
            future.cancel()
            raise

    await asyncio.to_thread(run)

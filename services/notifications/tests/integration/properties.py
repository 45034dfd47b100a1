"""Hostile values for property-based tests against the running service, and a way to run such a
test on the test's own event loop: Hypothesis draws in a worker thread, each example runs as a
coroutine where the app, its database pool and its NATS connection live, so a property holds
over real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.servicekit.http import INT32_MAX, INT64_MAX

T = TypeVar("T")

# what no schema-driven generator draws (STYLE.md): the edges of 32 and 64 bits, year 1 and 9999
# at offsets, impossible and malformed times, any JSON
EXTREME_INTS = st.sampled_from(
    [-1, 0, 1, INT32_MAX, INT32_MAX + 1, 3_000_000_000, INT64_MAX, INT64_MAX + 1, 2**64, -(2**63)]
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
        "2026-02-30T00:00:00Z",
        "2026-12-07T10:00:00",
        "2026-12-07T10:00:00+25:00",
        "2026-12-07",
        "",
        "now",
        "2026-12-07T10:00:00Z\x00",
    ]
)
ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
ANY_TIME = EXTREME_TIMES | st.datetimes().map(lambda moment: moment.isoformat()) | ANY_JSON
ANY_TEXT = st.text(max_size=250) | ANY_JSON


def forged_cursor(position: Any) -> str:
    """A cursor as a client could forge it: any JSON, base64url without padding."""
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def cursors(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[str]:
    """Any text, positions with these fields' hostile values, one field too many, any JSON."""
    positions = st.fixed_dictionaries(fields)
    return (
        st.text(max_size=300)
        | positions.map(forged_cursor)
        | positions.map(lambda position: forged_cursor({**position, "extra": 1}))
        | ANY_JSON.map(forged_cursor)
    )


# URLs: each part drawn from what breaks parsers (empty and over-long labels, unicode, bad
# ports, IPv6 literals with zones, credentials), then glued together or taken whole
LABELS = st.sampled_from(
    ["", "a", "a" * 63, "a" * 64, "-a", "a-", "a_b", "xn--", "xn--zz", "bücher", "例え", "\u2100"]
) | st.text(max_size=70)
HOSTS = st.lists(LABELS, min_size=1, max_size=4).map(".".join) | st.sampled_from(
    [
        "127.0.0.1",
        "256.1.1.1",
        "127.1",
        "[::1]",
        "[fe80::1%25eth0]",
        "[zz]",
        "::1",
        "[::ffff:10.0.0.1]",
        "a..example",
        f"{'a' * 64}.example",
        "a" * 254,
        "example.com.",
        "localhost",
    ]
)
PORTS = st.sampled_from(["", ":0", ":1", ":443", ":65535", ":65536", ":-1", ":abc", ":"])
USERINFO = st.sampled_from(["", "u@", "u:p@", ":@", "@"])
SCHEMES = st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "", "https:/", "//"])
PATHS = st.sampled_from(["", "/", "/hook", "/h?x=1#f", "/" + "p" * 2000]) | st.text(max_size=40)
URLS = (
    st.tuples(SCHEMES, USERINFO, HOSTS, PORTS, PATHS).map("".join)
    | st.text(max_size=100)
    | ANY_JSON
)

EXAMPLE_TIMEOUT_SECONDS = 30


async def for_all(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Coroutine[Any, Any, None]],
    *,
    examples: int = 100,
) -> None:
    """Run `check` on `examples` values Hypothesis draws from `strategy`, shrinking a failure to
    the smallest value that fails."""
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def run(value: T) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=EXAMPLE_TIMEOUT_SECONDS)

    await asyncio.to_thread(run)

"""Property-based tests against the running service: Hypothesis draws the examples in a worker
thread and each runs as a coroutine on the test's own event loop (where the app, its database
pool and its NATS connection live), so a property holds over real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.servicekit.http import INT32_MAX, INT64_MAX

T = TypeVar("T")

EXAMPLE_TIMEOUT_SECONDS = 30

# The values no schema-driven generator draws (STYLE.md): 2^31 and its neighbours, year 1 and
# 9999, the days around the edges of the plausible range, impossible and malformed dates.
EXTREME_INTS = st.sampled_from(
    [-1, 0, 1, INT32_MAX - 1, INT32_MAX, INT32_MAX + 1, 3_000_000_000, INT64_MAX, 2**64]
)
EXTREME_DAYS = st.sampled_from(
    [
        "0001-01-01",
        "9999-12-31",
        "1999-12-31",
        "2000-01-01",
        "2099-12-31",
        "2100-01-01",
        "2024-02-30",
        "2024-13-01",
        "2024-3-5",
        "20240305",
        "2024-03-05T00:00:00+14:00",
        "0001-01-01T00:00:00+01:00",
        "",
        "today",
        "2024-03-05\x00",
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
ANY_DAY = EXTREME_DAYS | st.dates().map(lambda day: day.isoformat()) | ANY_JSON
# text as JSON may carry it: lone surrogates (which PostgreSQL cannot encode), NUL, the longest
EXTREME_TEXTS = st.sampled_from(["\ud800", "a\udfffb", "a\x00b", "", "x" * 201, "é" * 200])
ANY_TEXT = (
    EXTREME_TEXTS
    | st.text(st.characters(exclude_categories=()), max_size=250)
    | st.text(max_size=80)
)


def raw_cursor(position: Any) -> str:
    """A cursor as a client could forge it: any JSON, base64url without padding."""
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def cursors(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[str]:
    """Any text, and positions with these fields' hostile values (and a field too many or few)."""
    positions = st.fixed_dictionaries(fields)
    return (
        st.text(max_size=300)
        | positions.map(raw_cursor)
        | positions.map(lambda position: raw_cursor({**position, "extra": 1}))
        | ANY_JSON.map(raw_cursor)
    )


async def for_all(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Coroutine[Any, Any, None]],
    *,
    examples: int = 60,
) -> None:
    """Run `check` on `examples` values Hypothesis draws from `strategy` (and shrinks on a
    failure, reporting the smallest failing value)."""
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(strategy)
    def run(value: T) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(check(value), loop)
        future.result(timeout=EXAMPLE_TIMEOUT_SECONDS)

    await asyncio.to_thread(run)

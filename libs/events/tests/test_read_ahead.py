"""`read_ahead` (the rebuilds' reader): every item in order, the source's error where it happened,
the source read ahead while the caller waits, and no reading left behind (pure asyncio, no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from libs.events.history import read_ahead


async def counting(upto: int, read: list[int], fail_at: int | None = None) -> AsyncIterator[int]:
    for n in range(upto):
        if n == fail_at:
            raise ValueError(f"broken at {n}")
        await asyncio.sleep(0)
        read.append(n)
        yield n


async def test_every_item_in_order() -> None:
    read: list[int] = []
    assert [n async for n in read_ahead(counting(500, read), depth=7)] == list(range(500))


async def test_the_sources_error_reaches_the_caller_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="broken at 30"):
        async for n in read_ahead(counting(100, [], fail_at=30), depth=4):
            got.append(n)
    assert got == list(range(30))


async def test_the_source_is_read_while_the_caller_works_and_never_more_than_depth_ahead() -> None:
    read: list[int] = []
    stream = read_ahead(counting(100, read), depth=5)
    assert await anext(stream) == 0
    await asyncio.sleep(0.05)  # the caller busy elsewhere: the reader goes on, up to its bound
    ahead = len(read)
    assert 5 <= ahead <= 1 + 5 + 1  # the one handed over, a full queue, one waiting to be put
    await stream.aclose()


async def test_leaving_early_stops_the_reading() -> None:
    read: list[int] = []
    async for n in read_ahead(counting(10_000, read), depth=3):
        if n == 10:
            break
    await asyncio.sleep(0.05)
    stopped_at = len(read)
    await asyncio.sleep(0.05)
    assert len(read) == stopped_at < 20

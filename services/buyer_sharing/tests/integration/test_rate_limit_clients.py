"""Finding 6d of issue 22, as deployed: the service runs as a real process (uvicorn, as
`python -m services.buyer_sharing serve` runs it) and the public pages' rate limit counts each
client once: a caller on this machine cannot get a fresh bucket by writing `X-Forwarded-For`, and
behind a configured proxy (`BW_TRUSTED_PROXIES`; here the ingress is 127.0.0.2) every client has
its own bucket instead of all sharing the proxy's."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tools.embedded import free_port

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[4]
BURST = 2
PAGE = "/v1/transparency/factories"

Serve = Callable[[dict[str, str]], Awaitable[str]]


@pytest.fixture
async def serve(migrated_database: str, nats_url: str, subject_prefix: str) -> AsyncIterator[Serve]:
    """Start the service as a process with extra environment; its base URL once it answers."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(extra: dict[str, str]) -> str:
        port = free_port()
        environment = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "DATABASE_URL": migrated_database,
            "NATS_URL": nats_url,
            "BW_SUBJECT_PREFIX": subject_prefix,
            "BW_ENVIRONMENT": "development",
            "BW_TRANSPARENCY_BURST": str(BURST),
            "BW_TRANSPARENCY_RATE_PER_SECOND": "0.001",
            **extra,
        }
        environment.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own default, as in `bw.py up`
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.buyer_sharing",
            "serve",
            cwd=ROOT,
            env=environment,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return url
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the service did not start (exit code {process.returncode})")

    try:
        yield start
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
                await asyncio.wait_for(process.wait(), timeout=30)


async def statuses(url: str, forwarded_for: list[str], source: str = "127.0.0.1") -> list[int]:
    """One request per `X-Forwarded-For` value, from the local address `source`."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=5) as client:
        return [
            (await client.get(PAGE, headers={"X-Forwarded-For": value})).status_code
            for value in forwarded_for
        ]


async def test_a_local_caller_cannot_buy_fresh_buckets_with_x_forwarded_for(
    serve: Serve,
) -> None:
    url = await serve({})
    forged = [f"198.51.100.{n}" for n in range(BURST + 2)]
    assert await statuses(url, forged) == [200] * BURST + [429, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(serve: Serve) -> None:
    url = await serve({"BW_TRUSTED_PROXIES": "127.0.0.2/32"})
    ingress = "127.0.0.2"
    first = await statuses(url, ["203.0.113.1"] * (BURST + 1), ingress)
    assert first == [200] * BURST + [429]
    # another client behind the same ingress is not refused because of the first
    assert await statuses(url, ["203.0.113.2"], ingress) == [200]
    # the first client cannot escape by writing its own entries to the left of the ingress's
    assert await statuses(url, ["6.6.6.6, 203.0.113.1"], ingress) == [429]
    # a caller that is not the trusted proxy is counted by its own address, header or not
    direct = await statuses(url, ["203.0.113.3"] * (BURST + 1))
    assert direct == [200] * BURST + [429]

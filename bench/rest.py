"""What the seed and the load generator need to talk to the services as integrators do: development
tokens (minted as `python3 bw.py token` mints them) and an HTTP client that retries what a careful
integrator retries (conflicts, 5xx, dropped connections) with the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from libs.servicekit.auth import Role, mint_token
from libs.servicekit.settings import DEV_JWT_SECRET

TOKEN_TTL_SECONDS = 12 * 3600  # a full-scale seed runs for hours
REQUEST_TIMEOUT = 60.0
RETRIES = 8
RETRYABLE_CONFLICTS = ("concurrency-conflict", "idempotency-key-in-progress")


def token(
    role: Role,
    subject: str,
    *,
    factory_id: str | None = None,
    buyer_id: str | None = None,
    countries: list[str] | str | None = None,
) -> str:
    """`countries`: a staff member's country programmes (ISO codes), or "*" for the
    headquarters' admins; outside development a staff token without them is refused."""
    secret = os.environ.get("BW_JWT_SECRET") or DEV_JWT_SECRET
    return mint_token(
        secret,
        subject,
        role,
        factory_id=factory_id,
        buyer_id=buyer_id,
        ttl_seconds=TOKEN_TTL_SECONDS,
        countries=countries,
    )


class RequestFailed(Exception):
    """A request still failed after the retries, or was refused for good (a 4xx)."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"{method} {url} → {status}: {body[:500]}")


@dataclass
class Caller:
    """One identity against one service."""

    client: httpx.AsyncClient
    base_url: str
    bearer: str

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The answer; 409/429/5xx and transport errors are retried with backoff (a conflict is
        another writer on the same aggregate, so the retry decides again on the new state).
        A status in `accept` is returned as it is instead of raising."""
        headers = {"Authorization": f"Bearer {self.bearer}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        url = self.base_url + path
        delay = 0.05
        for attempt in range(RETRIES + 1):
            try:
                response = await self.client.request(
                    method, url, json=json, params=params, headers=headers, timeout=REQUEST_TIMEOUT
                )
            except httpx.TransportError as error:
                if attempt == RETRIES:
                    raise RequestFailed(method, url, 0, repr(error)) from error
            else:
                if response.status_code < 400 or response.status_code in accept:
                    return response
                retryable = response.status_code == 429 or response.status_code >= 500
                if response.status_code == 409:
                    # another writer, or our own earlier try still running: decide again later;
                    # any other conflict (a refused transition) is the answer
                    try:
                        kind = str(response.json().get("type", ""))
                    except ValueError:
                        kind = ""
                    retryable = kind.endswith(RETRYABLE_CONFLICTS)
                if not retryable or attempt == RETRIES:
                    raise RequestFailed(method, url, response.status_code, response.text)
            await asyncio.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()


def portfolio_paths(buyer_id: str, next_cursor: str | None = None) -> list[str]:
    """The portfolio requests both buyer-sharing benchmarks time (100 a page: by risk, its next
    page when there is one, by factory id, one country, open critical issues)."""
    base = f"/v1/buyers/{buyer_id}/factories"
    return [
        f"{base}?limit=100",
        *([f"{base}?limit=100&cursor={next_cursor}"] if next_cursor else []),
        f"{base}?limit=100&sort=factory_id",
        f"{base}?limit=100&country=KH",
        f"{base}?limit=100&has_open_critical_issues=true",
    ]


def transparency_paths(countries: Iterable[str]) -> list[str]:
    """The public transparency requests both buyer-sharing benchmarks time."""
    return [
        "/v1/transparency/factories?limit=100",
        *(f"/v1/transparency/factories?limit=100&country={country}" for country in countries),
        "/v1/transparency/low-compliance",
    ]

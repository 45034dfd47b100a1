"""The public transparency pages (no authentication): published factories, low compliance and
yearly rates, each answer made once per version of its read models and kept in process
(pagecache.py), with a strong ETag, and a rate limit per client address."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.servicekit.http import Page, Pagination, next_page
from libs.servicekit.problems import ProblemError
from services.buyer_sharing.api.common import CountryFilter, Deps, Year
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.domain import transparency
from services.buyer_sharing.queries import transparency as queries
from services.buyer_sharing.ratelimit import TokenBuckets, client_address
from services.buyer_sharing.schemas import LowComplianceFactory, TransparencyFactory, YearlyRates


async def rate_limited(request: Request, deps: Deps) -> None:
    """Per client address: the peer, or behind a trusted proxy the right-most untrusted address
    of X-Forwarded-For (`ratelimit.client_address`)."""
    client = client_address(
        request.client.host if request.client is not None else None,
        request.headers.getlist("x-forwarded-for"),
        deps.public.trusted_proxies,
    )
    wait = deps.public.limiter.take(client, time.monotonic())
    if wait > 0:
        raise ProblemError(
            "Too many requests from this address; retry later.",
            status=429,
            type_slug="rate-limited",
            headers={"Retry-After": str(TokenBuckets.retry_after(wait))},
        )


router = APIRouter(
    prefix="/v1/transparency", tags=["transparency"], dependencies=[Depends(rate_limited)]
)


def _encode(body: Any) -> bytes:
    return json.dumps(jsonable_encoder(body), separators=(",", ":"), sort_keys=True).encode()


async def _public(
    request: Request,
    deps: Dependencies,
    key: tuple[Any, ...],
    compute: Callable[[AsyncConnection], Awaitable[Any]],
) -> Response:
    """The page's JSON answer, made once per version of the read models it comes from and kept
    in process (pagecache.py), with a strong ETag of its bytes; 304 when the client has it."""
    pages = deps.public.pages
    async with deps.store.reading() as connection:
        version = await queries.public_version(connection)  # before the queries: see put()
        answer = pages.get(key, version)
        if answer is None:
            answer = pages.put(key, version, _encode(await compute(connection)))
    max_age = deps.public.max_age_seconds
    headers = {"ETag": answer.etag, "Cache-Control": f"public, max-age={max_age}"}
    candidates = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if answer.etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(answer.payload, media_type="application/json", headers=headers)


CACHED: dict[int | str, dict[str, Any]] = {
    200: {"description": "OK; `ETag` and `Cache-Control` set."},
    304: {"description": "Not modified (If-None-Match)."},
    429: {"description": "Rate limited; see `Retry-After`."},
}


@router.get("/factories", response_model=Page[TransparencyFactory], responses=CACHED)
async def public_factories(
    request: Request, deps: Deps, page: Pagination, country: CountryFilter = None
) -> Response:
    """Factories with at least two completed assessments: critical issues of the newest report
    and the factory's responses (public, no authentication)."""
    position = page.position(factory_id=str)
    after = position["factory_id"] if position else None

    async def compute(connection: AsyncConnection) -> Any:
        rows = await queries.published_factories(
            connection, country=country, after=after, limit=page.limit
        )
        items, cursor = next_page(rows, page.limit, lambda row: {"factory_id": row["factory_id"]})
        return Page[TransparencyFactory](items=items, next_cursor=cursor)

    return await _public(request, deps, ("factories", country, after, page.limit), compute)


@router.get("/low-compliance", response_model=list[LowComplianceFactory], responses=CACHED)
async def low_compliance(
    request: Request,
    deps: Deps,
    country: CountryFilter = None,
    year: Annotated[int | None, Query(ge=2000, le=2099)] = None,
) -> Response:
    """Factories with at least three completed assessments more than two standard deviations
    below their country's mean compliance in a calendar year (public)."""

    async def compute(connection: AsyncConnection) -> Any:
        reports = await queries.completed_reports(connection)
        listed = transparency.low_compliance(reports, country=country, year=year)
        return [LowComplianceFactory(**vars(entry)) for entry in listed]

    return await _public(request, deps, ("low-compliance", country, year), compute)


@router.get("/rates", response_model=YearlyRates, responses=CACHED)
async def yearly_rates(
    request: Request, deps: Deps, year: Year, country: CountryFilter = None
) -> Response:
    """Calendar-year non-compliance rates per cluster and compliance point, per country (public)."""

    async def compute(connection: AsyncConnection) -> Any:
        rates = await queries.yearly_rates(connection, year=year, country=country)
        return YearlyRates(year=year, **rates)

    return await _public(request, deps, ("rates", year, country), compute)

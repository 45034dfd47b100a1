"""What an assessment leaves: its history (its events in order, a page at a time) and its report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from libs.servicekit.http import CURSOR_PATTERN, decode_cursor, encode_cursor, set_etag
from libs.servicekit.types import PathId
from services.assessment.api.answers import assessment_or_404
from services.assessment.api.common import Deps, Reader, ReadModels
from services.assessment.domain.assessment_state import ASSESSMENT
from services.assessment.queries import assessments as queries
from services.assessment.queries import reports
from services.assessment.schemas import HistoryEntry

router = APIRouter(prefix="/v1/assessments", tags=["assessments"])

HISTORY_PAGE = 100
HISTORY_MAX_PAGE = 500


@router.get(
    "/{assessment_id}/history",
    response_model=list[HistoryEntry],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'The next page, when there is one: `<…?cursor=…>; rel="next"`.',
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
async def assessment_history(
    assessment_id: PathId,
    request: Request,
    reads: ReadModels,
    response: Response,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=HISTORY_MAX_PAGE, description="Page size.")] = (
        HISTORY_PAGE
    ),
    cursor: Annotated[
        str | None,
        Query(
            description="From the `Link` header of the previous page. A cursor this API did not "
            "issue is a 400 problem.",
            json_schema_extra={"pattern": CURSOR_PATTERN, "minLength": 1, "maxLength": 2048},
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """The assessment's events in order: version, type, when it happened and when it was
    recorded, who, what and (imported) from which bundle, a page at a time.

    The body stays a list; the next page, when there is one, is the `Link` header's `rel="next"`.
    """
    position = decode_cursor(cursor, {"after_version": int}) if cursor is not None else None
    after_version = position["after_version"] if position else 0
    await assessment_or_404(reads, principal, assessment_id)
    registry = reads.store.registry
    async with reads.store.reading() as connection:
        rows = await queries.history_page(
            connection, ASSESSMENT.stream_id(assessment_id), after_version, limit + 1
        )
    entries = [
        {
            "version": row["version"],
            "event_type": row["event_type"],
            "event_id": row["event_id"],
            "occurred_at": row["occurred_at"],
            "recorded_at": row["recorded_at"],
            "imported_from": row["imported_from"],
            "actor": row["actor"],
            "data": registry.decode_json(row["event_type"], row["data"]).model_dump(mode="json"),
        }
        for row in rows[:limit]
    ]
    if len(rows) > limit:
        next_cursor = encode_cursor({"after_version": entries[-1]["version"]})
        next_url = request.url.include_query_params(cursor=next_cursor, limit=limit)
        response.headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
    return entries


@router.get("/{assessment_id}/report")
async def assessment_report(
    assessment_id: PathId, deps: Deps, reads: ReadModels, response: Response, principal: Reader
) -> dict[str, Any]:
    """The report: findings by cluster and point, rates, critical issues first, responses."""
    row = await assessment_or_404(reads, principal, assessment_id)
    catalogue = deps.catalogues.resolve(row["catalogue_version"], row["country"])
    assert catalogue is not None
    async with reads.store.reading() as connection:
        report = await reports.assessment_report(connection, row, catalogue)
    set_etag(response, row["version"])
    return report

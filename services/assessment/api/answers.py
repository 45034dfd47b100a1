"""How the assessment routes answer: an assessment as the caller may see it (a factory user sees
only its own completed reports, staff those of their country programmes; anything else is a 404),
with its findings, and a command's answer (the assessment as the command's own transaction left
it)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import TypeAdapter
from sqlalchemy.engine import RowMapping

from libs.domain.aggregate import Change
from libs.servicekit.auth import Principal, Role
from libs.servicekit.http import set_etag
from libs.servicekit.problems import NotFound
from services.assessment.api.common import may_read_country
from services.assessment.handlers.dependencies import Reads
from services.assessment.queries import assessments as queries
from services.assessment.schemas import AssessmentDetail


async def assessment_or_404(reads: Reads, principal: Principal, assessment_id: str) -> RowMapping:
    async with reads.store.reading() as connection:
        row = await queries.get_assessment(connection, assessment_id)
    hidden = (
        row is None
        or not may_read_country(principal, row["country"])
        or (
            principal.role is Role.FACTORY
            and (row["factory_id"] != principal.factory_id or row["status"] != "completed")
        )
    )
    if row is None or hidden:
        raise NotFound(f"assessment {assessment_id} does not exist")
    return row


async def assessment_detail(
    reads: Reads, response: Response, principal: Principal, assessment_id: str
) -> dict[str, Any]:
    row = await assessment_or_404(reads, principal, assessment_id)
    async with reads.store.reading() as connection:
        findings = await queries.findings_of(connection, assessment_id)
    set_etag(response, row["version"])
    return {**queries.assessment_view(row), "findings": findings}


_DETAIL = TypeAdapter(AssessmentDetail)
_ANSWER_HEADERS = ("etag", "location")


def changed_assessment(change: Change[Any], response: Response, status_code: int = 200) -> Response:
    """The answer of a command on an assessment: the assessment as the command's own transaction
    left it (`change.answer`), validated against `AssessmentDetail` and encoded once, by pydantic,
    instead of FastAPI's validate, `jsonable_encoder` and `json.dumps` passes."""
    detail = change.answer
    if detail is None:
        raise RuntimeError(f"no answer was read for {change.before.aggregate_id}")
    set_etag(response, detail["version"])
    return Response(
        _DETAIL.dump_json(_DETAIL.validate_python(detail)),
        status_code=status_code,
        media_type="application/json",
        headers={
            name: response.headers[name] for name in _ANSWER_HEADERS if name in response.headers
        },
    )

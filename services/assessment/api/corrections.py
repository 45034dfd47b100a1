"""After the report: staff correct a finding (attributed, with a reason), and the factory responds
to, or disputes, a finding of its report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from libs.servicekit.http import CorrelationId, IdempotencyKey, IfMatch, parse_if_match, set_etag
from libs.servicekit.problems import UnprocessableEntity
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.assessment.api.answers import changed_assessment
from services.assessment.api.common import FactoryUser, Staff, scope_of
from services.assessment.commands import CorrectFinding, RespondToFinding
from services.assessment.schemas import AssessmentDetail, FindingCorrection, FindingResponseInput

router = APIRouter(prefix="/v1/assessments", tags=["assessments"])


@router.post(
    "/{assessment_id}/findings/{question_id}/corrections",
    status_code=201,
    response_model=AssessmentDetail,
)
async def correct_finding(
    assessment_id: PathId,
    question_id: PathId,
    body: FindingCorrection,
    run: RunCommand,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Correct a finding of a completed assessment (attributed, with a reason)."""
    command = CorrectFinding(
        assessment_id=assessment_id,
        question_id=question_id,
        facts=body.facts(),
        reason=body.reason,
        corrected_by=principal.subject,
        expected_version=parse_if_match(if_match),
        scope=scope_of(principal),
    )
    change = await run_as(run, principal, correlation_id, command)
    return changed_assessment(change, response, status_code=201)


@router.post("/{assessment_id}/findings/{question_id}/responses", status_code=201)
async def respond_to_finding(
    assessment_id: PathId,
    question_id: PathId,
    body: FindingResponseInput,
    run: RunCommand,
    response: Response,
    principal: FactoryUser,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The factory responds to, or disputes, a finding of its report."""
    if body.kind == "dispute" and not (body.reason or "").strip():
        raise UnprocessableEntity("a dispute needs a reason")
    assert principal.factory_id is not None  # guaranteed for the factory role
    command = RespondToFinding(
        assessment_id=assessment_id,
        question_id=question_id,
        text=body.text,
        responded_by=principal.subject,
        factory_id=principal.factory_id,
        dispute_reason=body.reason if body.kind == "dispute" else None,
        expected_version=parse_if_match(if_match),
    )
    change = await run_as(run, principal, correlation_id, command)
    # the factory is answered with what it sent; the assessment's new version is the ETag
    set_etag(response, change.version)
    return {"assessment_id": assessment_id, "question_id": question_id, "kind": body.kind}

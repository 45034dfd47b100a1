"""The work on site: record an assessment's findings, one question at a time or many at once,
then complete the assessment, which makes them its report (staff of the assessment's country
programme; any other assessment is a 404)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from libs.servicekit.http import CorrelationId, IdempotencyKey, IfMatch, parse_if_match
from libs.servicekit.service import RunCommand, run_as
from libs.servicekit.types import PathId
from services.assessment.api.answers import changed_assessment
from services.assessment.api.common import Staff, scope_of
from services.assessment.commands import CompleteAssessment, RecordFinding, RecordFindings
from services.assessment.schemas import AssessmentDetail, FindingInput, FindingsInput

router = APIRouter(prefix="/v1/assessments", tags=["assessments"])


@router.put("/{assessment_id}/findings/{question_id}", response_model=AssessmentDetail)
async def record_finding(
    assessment_id: PathId,
    question_id: PathId,
    body: FindingInput,
    run: RunCommand,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record (or, before completion, re-record) the finding for one question."""
    command = RecordFinding(
        assessment_id=assessment_id,
        question_id=question_id,
        facts=body.facts(),
        recorded_by=principal.subject,
        expected_version=parse_if_match(if_match),
        scope=scope_of(principal),
    )
    change = await run_as(run, principal, correlation_id, command)
    return changed_assessment(change, response)


@router.post("/{assessment_id}/findings", response_model=AssessmentDetail)
async def record_findings(
    assessment_id: PathId,
    body: FindingsInput,
    run: RunCommand,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record many findings at once (up to 500; a whole assessment from the site): one append,
    all or nothing. Each is checked as a single recording would be; a question may appear once."""
    command = RecordFindings(
        assessment_id=assessment_id,
        findings=tuple((finding.question_id, finding.facts()) for finding in body.findings),
        recorded_by=principal.subject,
        expected_version=parse_if_match(if_match),
        scope=scope_of(principal),
    )
    change = await run_as(run, principal, correlation_id, command)
    return changed_assessment(change, response)


@router.post("/{assessment_id}/complete", response_model=AssessmentDetail)
async def complete_assessment(
    assessment_id: PathId,
    run: RunCommand,
    response: Response,
    principal: Staff,
    if_match: IfMatch = None,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Complete the assessment: refused while a critical question is unanswered."""
    command = CompleteAssessment(
        assessment_id, principal.subject, parse_if_match(if_match), scope=scope_of(principal)
    )
    change = await run_as(run, principal, correlation_id, command)
    return changed_assessment(change, response)

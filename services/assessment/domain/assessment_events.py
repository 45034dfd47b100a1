"""The Assessment aggregate's internal events and the values they carry.

Stored facts: no request rules here (patterns, lengths), so whatever was once stored decodes; the
rules are on the commands' request schemas. What leaves the service is in `contract.py`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from libs.domain.envelope import DomainEvent

Result = Literal["compliant", "non_compliant", "not_applicable"]


class FindingFacts(BaseModel):
    """A finding's content, as carried in corrections' before and after."""

    model_config = ConfigDict(frozen=True)

    result: Result
    evidence: str = ""
    evidence_refs: tuple[str, ...] = ()


class ClusterSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    cluster_id: str
    cluster_name: str
    questions: int
    non_compliant: int
    rate: float


class QuestionResult(BaseModel):
    """The result of one answered question in a completed report."""

    model_config = ConfigDict(frozen=True)

    question_id: str
    cluster_id: str
    compliance_point_id: str
    critical: bool
    zero_tolerance: bool
    result: Result


class AssessmentScheduled(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    scheduled_for: date
    assessors: tuple[str, ...]
    country: str
    catalogue_version: str


class FindingRecorded(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    result: Result
    evidence: str
    evidence_refs: tuple[str, ...]
    recorded_by: str


class ZeroToleranceIssueFound(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    cluster_id: str
    compliance_point_id: str
    question_text: str
    evidence: str
    recorded_by: str


class AssessmentCompleted(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    catalogue_version: str
    country: str
    report_date: date
    completed_by: str
    non_compliance_count: int
    summary: tuple[ClusterSummary, ...]
    # Every answered question's result (empty in reports completed before it was recorded).
    results: tuple[QuestionResult, ...] = ()


class NonComplianceFound(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    report_date: date
    cluster_id: str
    cluster_name: str
    compliance_point_id: str
    compliance_point_name: str
    question_id: str
    question_text: str
    critical: bool
    zero_tolerance: bool
    evidence: str
    evidence_refs: tuple[str, ...]


class FindingCorrected(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    corrected_by: str
    reason: str
    before: FindingFacts
    after: FindingFacts


class FindingDisputed(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    responded_by: str
    text: str
    reason: str


class FactoryResponded(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    responded_by: str
    text: str


class ReportCredentialIssued(DomainEvent):
    """The report (as completed, or as a correction changed it) was issued as a verifiable
    credential (docs/credentials.md): the signed credential and what its offline bundle holds
    besides the contexts (the report, the issuer's DID document, the status list as of issuance,
    the history position of the event it attests)."""

    assessment_id: str
    factory_id: str
    credential_id: str
    revision: int
    supersedes: str | None
    report_date: date
    issued_at: datetime
    status_list: int
    status_list_index: int
    credential: str
    report: dict[str, Any]
    did_document: dict[str, Any]
    status_list_credential: str
    history: dict[str, Any]


ASSESSMENT_EVENTS: tuple[type[DomainEvent], ...] = (
    AssessmentScheduled,
    FindingRecorded,
    ZeroToleranceIssueFound,
    AssessmentCompleted,
    NonComplianceFound,
    FindingCorrected,
    FindingDisputed,
    FactoryResponded,
    ReportCredentialIssued,
)

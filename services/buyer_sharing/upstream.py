"""Our own narrow copies of the assessment, remediation and advisory services' public events that
buyer sharing reads (registered under the producer's service name; fields we do not read are
ignored), and the upcasters of older schema versions. A report's verifiable credential is kept
whole: its offline bundle is what buyers download, as the assessment service issued it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.domain.envelope import DomainEvent, EventRegistry

Result = Literal["compliant", "non_compliant", "not_applicable"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# --- assessment ---------------------------------------------------------------------------------


class Workforce(_Part):
    women: int
    men: int


class FactoryRegistered(DomainEvent):
    factory_id: str
    name: str
    country: str
    os_id: str | None = None
    # in force from the event's business time (the programme's results count workers by it)
    workforce: Workforce | None = None


class FactoryUpdated(DomainEvent):
    factory_id: str
    name: str
    country: str
    os_id: str | None = None
    workforce: Workforce | None = None


class ClusterResult(_Part):
    cluster_id: str
    cluster_name: str = ""
    questions: int
    non_compliant: int
    rate: float


class QuestionResult(_Part):
    question_id: str
    cluster_id: str
    compliance_point_id: str
    critical: bool
    zero_tolerance: bool
    result: Result


class AssessmentCompleted(DomainEvent):
    schema_version = 2

    assessment_id: str
    factory_id: str
    cycle: int
    country: str
    catalogue_version: str = ""
    report_date: date
    non_compliance_count: int = 0
    summary: tuple[ClusterResult, ...] = ()
    results: tuple[QuestionResult, ...] = ()


class NonComplianceFound(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    report_date: date
    cluster_id: str
    cluster_name: str = ""
    compliance_point_id: str
    compliance_point_name: str = ""
    question_id: str
    question_text: str = ""
    critical: bool = False
    zero_tolerance: bool = False
    evidence: str = ""


class FindingCorrected(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    result_before: Result
    result_after: Result
    evidence: str = ""
    reason: str = ""
    corrected_by: str = ""


class FactoryResponded(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    text: str


class FindingDisputed(DomainEvent):
    assessment_id: str
    factory_id: str
    question_id: str
    text: str
    reason: str = ""


class ReportCredentialIssued(DomainEvent):
    """A completed report issued as a verifiable credential (revision 0 at completion, one more
    per correction that changed the report, superseding the one before): the offline bundle as
    issued, which holds the compact `vc+jwt` (docs/verifying.md)."""

    credential_id: str = Field(min_length=1, max_length=100)
    assessment_id: str
    factory_id: str
    revision: int = Field(ge=0, le=2**31 - 1)
    supersedes: str | None = Field(None, max_length=100)
    report_date: date
    issued_at: datetime
    status_list_index: int = Field(ge=0, le=2**31 - 1)
    bundle: dict[str, Any]

    @field_validator("bundle")
    @classmethod
    def _holds_the_credential(cls, bundle: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(bundle.get("credential"), str) or not bundle["credential"]:
            raise ValueError("the bundle holds no compact credential")
        return bundle

    @property
    def credential(self) -> str:
        """The compact `vc+jwt` the bundle holds."""
        compact: str = self.bundle["credential"]
        return compact


ASSESSMENT_EVENTS: tuple[type[DomainEvent], ...] = (
    FactoryRegistered,
    FactoryUpdated,
    AssessmentCompleted,
    NonComplianceFound,
    FindingCorrected,
    FactoryResponded,
    FindingDisputed,
    ReportCredentialIssued,
)


# --- remediation --------------------------------------------------------------------------------

ItemStatus = Literal["open", "in_progress", "done", "verified"]


class PlanItem(_Part):
    item_id: str
    assessment_id: str
    question_id: str
    critical: bool = False
    zero_tolerance: bool = False
    status: ItemStatus
    due_date: date
    overdue: bool = False


class PlanProgress(_Part):
    total: int = 0
    open: int = 0
    in_progress: int = 0
    done: int = 0
    verified: int = 0
    overdue: int = 0
    published: bool = False
    publication_due_date: date | None = None
    publication_late: bool = False


class ImprovementPlanUpdated(DomainEvent):
    factory_id: str
    plan_version: int
    change: str = ""
    item: PlanItem
    progress: PlanProgress


class ImprovementPlanPublished(DomainEvent):
    factory_id: str
    plan_version: int
    late: bool = False


REMEDIATION_EVENTS: tuple[type[DomainEvent], ...] = (
    ImprovementPlanUpdated,
    ImprovementPlanPublished,
)


# --- advisory -----------------------------------------------------------------------------------
# Only counts reach this service (the producer publishes no participant, name, survey answer or
# visit note); of those we keep what a factory's training and advisory summary shows.


class TrainingSessionDelivered(DomainEvent):
    """A training session delivered with participants of the factory (an open session publishes
    one event per factory, each with that factory's counts only)."""

    session_id: str
    factory_id: str
    course_code: str
    course_title: str = ""
    start_date: date
    end_date: date
    training_days: int
    participants: int
    completions: int


class AdvisoryVisitCompleted(DomainEvent):
    """An enterprise advisor's visit to the factory took place."""

    visit_id: str
    factory_id: str
    visited_on: date
    duration_days: float  # advisory days, in half days


ADVISORY_EVENTS: tuple[type[DomainEvent], ...] = (
    TrainingSessionDelivered,
    AdvisoryVisitCompleted,
)


# what this service reads, per producer: the consumers' handlers and the rebuild's decoder
UPSTREAM_EVENTS: Mapping[str, tuple[type[DomainEvent], ...]] = {
    "assessment": ASSESSMENT_EVENTS,
    "remediation": REMEDIATION_EVENTS,
    "advisory": ADVISORY_EVENTS,
}


def register_upstream(registry: EventRegistry) -> None:
    """Our copies under their producers' names, with the upcasters they need."""
    registry.register_all(*ASSESSMENT_EVENTS, service="assessment")
    registry.register_all(*REMEDIATION_EVENTS, service="remediation")
    registry.register_all(*ADVISORY_EVENTS, service="advisory")

    @registry.upcaster("AssessmentCompleted", 1, service="assessment")
    def _results_unknown(data: dict[str, Any]) -> dict[str, Any]:
        # v1 carried no per-question results: transparency and rates then count nothing for it
        return {**data, "results": []}

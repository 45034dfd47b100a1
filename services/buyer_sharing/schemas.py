"""Request and response models of buyer sharing: XCreate for what callers send (bounded,
control-free, unknown members refused) and XPublic for what they get."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.domain.types import PlausibleDate, ResourceId, SafeLine, SafeText

Reason = Annotated[SafeText, Field(max_length=2000)]
RequiredReason = Annotated[SafeText, Field(min_length=1, max_length=2000)]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["KH"])]
# an OS ID as people write it: 15 characters, hyphens and spaces ignored
OsIdInput = Annotated[str, Field(min_length=15, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")]
Email = Annotated[
    str, Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def normalise_os_id(value: str) -> str:
    return value.replace("-", "").replace(" ", "").upper()


class BuyerCreate(Request):
    buyer_id: ResourceId | None = Field(None, description="Chosen by the caller, or generated.")
    name: SafeLine = Field(min_length=1, max_length=200)
    country: CountryCode
    contact_name: SafeLine = Field(min_length=1, max_length=200)
    contact_email: Email


class BuyerPublic(BaseModel):
    buyer_id: str
    name: str
    country: str
    contact_name: str
    contact_email: str
    registered_at: datetime
    version: int


class GrantCreate(Request):
    buyer_id: ResourceId
    factory_id: ResourceId | None = Field(
        None, description="The factory sharing; a factory user may leave it out (its own)."
    )
    ends_on: PlausibleDate | None = Field(None, description="Last day of access; null: open.")
    reason: Reason = ""


class RevokeCreate(Request):
    reason: RequiredReason


class GrantPublic(BaseModel):
    factory_id: str
    buyer_id: str
    active: bool
    granted_at: datetime
    ends_on: date | None
    revoked_at: datetime | None
    version: int


class GrantHistoryEntry(BaseModel):
    version: int
    action: Literal["granted", "revoked"]
    actor: str
    at: datetime
    reason: str
    ends_on: date | None
    access_request_id: str | None


class AccessRequestCreate(Request):
    """Name the factory by exactly one of `factory_id` and `os_id`."""

    factory_id: ResourceId | None = None
    os_id: OsIdInput | None = None
    message: Reason = ""

    @model_validator(mode="after")
    def _exactly_one_reference(self) -> AccessRequestCreate:
        if (self.factory_id is None) == (self.os_id is None):
            raise ValueError("give exactly one of factory_id and os_id")
        if self.os_id is not None and len(normalise_os_id(self.os_id)) != 15:
            raise ValueError("an OS ID has 15 characters besides hyphens and spaces")
        return self


class AccessRequestReceipt(BaseModel):
    """What the buyer learns: the same whether or not the factory exists."""

    request_id: str
    status: Literal["pending", "approved", "declined"]
    factory_id: str | None = Field(description="As the buyer named it.")
    os_id: str | None
    requested_at: datetime


class AccessRequestPublic(BaseModel):
    request_id: str
    buyer_id: str
    factory_id: str | None
    os_id: str | None
    message: str
    status: Literal["pending", "approved", "declined"]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class ApproveCreate(Request):
    ends_on: PlausibleDate | None = None
    reason: Reason = ""


class DeclineCreate(Request):
    reason: RequiredReason


class RelianceCreate(Request):
    factory_id: ResourceId
    assessment_id: ResourceId = Field(
        description="The factory's completed assessment relied on (a 422 otherwise)."
    )
    period_start: PlausibleDate
    period_end: PlausibleDate
    note: Reason = ""


class WithdrawCreate(Request):
    reason: RequiredReason


class ReliancePublic(BaseModel):
    reliance_id: str
    factory_id: str
    buyer_id: str
    assessment_id: str | None
    period_start: date
    period_end: date
    note: str
    declared_by: str
    declared_at: datetime
    withdrawn_by: str | None
    withdrawn_at: datetime | None
    withdrawal_reason: str | None


class ProgrammeStatistics(BaseModel):
    year: int
    country: str | None
    buyers_participating: int
    buyers_relying: int
    factories_covered: int
    audits_avoided: int


class ClusterRate(BaseModel):
    cluster_id: str
    cluster_name: str
    rate: float
    change: float | None = Field(description="Change in rate since the previous report.")


class LatestReport(BaseModel):
    assessment_id: str
    cycle: int
    report_date: date
    non_compliance_rate: float
    clusters: list[ClusterRate]
    critical_issues_found: int
    zero_tolerance_issues_found: int


class ChangeSincePrevious(BaseModel):
    previous_assessment_id: str
    previous_report_date: date
    non_compliance_rate_change: float


class PlanProgressPublic(BaseModel):
    total: int
    open: int
    in_progress: int
    done: int
    verified: int
    overdue: int
    published: bool
    publication_late: bool
    publication_due_date: date | None


class LatestTraining(BaseModel):
    course_code: str
    course_title: str
    started_on: date = Field(description="Start of the latest session of the course.")


class TrainingTotals(BaseModel):
    """Training sessions the programme delivered with participants of the factory."""

    sessions: int
    participants: int = Field(description="The factory's participants, summed over sessions.")
    completions: int = Field(description="Of them, those who attended every training day.")
    training_days: int = Field(description="The sessions' training days, summed.")
    latest: LatestTraining | None


class AdvisoryTotals(BaseModel):
    """Completed enterprise advisory visits to the factory."""

    visits: int
    advisory_days: float = Field(description="Days spent, in half days.")
    latest_visit_on: date | None


class TrainingAndAdvisory(BaseModel):
    """The factory's training and advisory work, as counts only (no participant, name, survey
    answer or visit note ever reaches buyer sharing)."""

    training: TrainingTotals
    advisory: AdvisoryTotals


class TrainingCourseYear(BaseModel):
    year: int = Field(description="The year the sessions started.")
    course_code: str
    course_title: str = Field(description="As of the latest session of the course that year.")
    sessions: int
    participants: int
    completions: int
    training_days: int


class AdvisoryYear(BaseModel):
    year: int
    visits: int
    advisory_days: float


class TrainingAndAdvisoryDetail(TrainingAndAdvisory):
    """The totals, with the training by year and course and the advisory work by year (newest
    year first)."""

    training_by_course_and_year: list[TrainingCourseYear]
    advisory_by_year: list[AdvisoryYear]


class PortfolioFactory(BaseModel):
    factory_id: str
    name: str | None
    country: str | None
    os_id: str | None
    shared_since: datetime
    shared_until: date | None
    latest_report: LatestReport | None
    change_since_previous: ChangeSincePrevious | None
    open_zero_tolerance_issues: int
    open_critical_issues: int
    improvement_plan: PlanProgressPublic | None
    training_and_advisory: TrainingAndAdvisory


class PortfolioFactoryDetail(PortfolioFactory):
    """One shared factory: its portfolio entry, with its training and advisory work by year."""

    training_and_advisory: TrainingAndAdvisoryDetail


class FindingNote(BaseModel):
    text: str
    reason: str
    result_before: str | None
    result_after: str | None
    actor: str
    at: datetime


class ReportFinding(BaseModel):
    question_id: str
    cluster_id: str
    cluster_name: str
    compliance_point_id: str
    compliance_point_name: str
    question_text: str
    critical: bool
    zero_tolerance: bool
    evidence: str
    result: str = Field(description="After corrections.")
    remediation_status: str | None
    remediation_overdue: bool | None
    responses: list[FindingNote]
    disputes: list[FindingNote]
    corrections: list[FindingNote]


class CredentialLink(BaseModel):
    """A verifiable credential of the report (docs/buyer_sharing.md, "Verifiable reports")."""

    id: str = Field(description="The credential's id (`urn:uuid:…`), as webhooks name it.")
    revision: int = Field(description="0 at completion, one more per correction that changed it.")
    supersedes: str | None = Field(description="The id of the credential it supersedes.")
    issued_at: datetime
    superseded: bool = Field(description="A later revision of the report supersedes it.")
    href: str = Field(description="Its compact `vc+jwt` (`application/vc+jwt`).")
    bundle_href: str = Field(description="Its offline verification bundle.")


class ReportPublic(BaseModel):
    assessment_id: str
    cycle: int
    country: str
    catalogue_version: str
    report_date: date
    non_compliance_count: int
    summary: list[dict[str, Any]]
    findings: list[ReportFinding]
    credential: CredentialLink | None = Field(
        description="The report's latest credential; null until one reached this service."
    )
    credentials: list[CredentialLink] = Field(
        description="Every credential issued of the report, newest first."
    )


class CriticalIssue(BaseModel):
    question_id: str
    compliance_point_id: str
    question_text: str | None
    compliant: bool
    result: str


class FactoryResponse(BaseModel):
    question_id: str
    text: str
    responded_at: datetime


class PublicReportRef(BaseModel):
    assessment_id: str
    cycle: int
    report_date: date


class TransparencyFactory(BaseModel):
    factory_id: str
    name: str | None
    country: str
    completed_assessments: int
    report: PublicReportRef
    critical_issues: list[CriticalIssue]
    factory_responses: list[FactoryResponse]


class LowComplianceFactory(BaseModel):
    factory_id: str
    country: str
    year: int
    assessment_id: str
    compliance: float
    country_mean: float
    country_standard_deviation: float
    factories_in_country: int


class Rate(BaseModel):
    country: str
    id: str
    assessments: int
    answered: int
    non_compliant: int
    rate: float


class YearlyRates(BaseModel):
    year: int
    clusters: list[Rate]
    compliance_points: list[Rate]

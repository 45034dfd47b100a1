"""Request and response models of the assessment API (XCreate, XUpdate, XPublic, XPage). The
request rules (lengths, patterns, safe text) live here and on FactoryDetails, never on events."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.domain.types import PlausibleDate, ResourceId, SafeLine, SafeText, Token
from services.assessment.domain.assessment_events import FindingFacts, Result
from services.assessment.domain.factory import Workforce
from services.assessment.ids import COUNTRY_CODES, ISIC_PATTERN

# Bounds on what a finding carries (evidence text, references to documents).
MAX_EVIDENCE_LENGTH = 10_000
MAX_EVIDENCE_REFS = 50
MAX_REFERENCE_LENGTH = 500

CatalogueVersion = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z._-]+$")]
# an assessment is planned at most this far ahead
SCHEDULING_HORIZON = timedelta(days=366)


class FactoryPublic(BaseModel):
    factory_id: str
    name: str
    country: str
    address: str
    sector_isic: str
    workforce: Workforce
    os_id: str | None
    version: int
    registered_at: datetime
    updated_at: datetime


class FactoryUpdate(BaseModel):
    """Only the fields sent change; `os_id: null` removes the OS ID."""

    model_config = ConfigDict(extra="forbid")

    name: SafeLine | None = Field(None, min_length=1, max_length=200)
    country: str | None = Field(
        None, pattern=r"^ *[A-Za-z]{2} *$", json_schema_extra={"enum": COUNTRY_CODES}
    )
    address: SafeText | None = Field(None, min_length=1, max_length=500)
    sector_isic: str | None = Field(None, pattern=ISIC_PATTERN)
    workforce: Workforce | None = None
    os_id: str | None = Field(None, max_length=40, pattern=r"^[A-Za-z0-9 -]*$")


class ClusterSummaryPublic(BaseModel):
    cluster_id: str
    cluster_name: str
    questions: int
    non_compliant: int
    rate: float


class AssessmentPublic(BaseModel):
    assessment_id: str
    factory_id: str
    cycle: int
    country: str
    catalogue_version: str
    scheduled_for: date
    assessors: list[str]
    status: Literal["scheduled", "completed"]
    report_date: date | None
    completed_by: str | None
    summary: list[ClusterSummaryPublic] | None
    version: int


class FindingPublic(BaseModel):
    question_id: str
    cluster_id: str
    compliance_point_id: str
    critical: bool
    zero_tolerance: bool
    result: Result
    evidence: str
    evidence_refs: list[str]
    recorded_by: str
    recorded_at: datetime
    corrected: bool


class AssessmentDetail(AssessmentPublic):
    findings: list[FindingPublic]


class FactoryPage(BaseModel):
    items: list[FactoryPublic]
    next_cursor: str | None


class AssessmentPage(BaseModel):
    items: list[AssessmentPublic]
    next_cursor: str | None


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    factory_id: ResourceId
    scheduled_for: PlausibleDate = Field(description="At most a year from today.")
    assessors: list[Annotated[SafeLine, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=10
    )
    catalogue_version: CatalogueVersion | None = Field(
        None, description="Defaults to the latest version."
    )

    @field_validator("scheduled_for")
    @classmethod
    def _within_horizon(cls, value: date) -> date:
        if value > date.today() + SCHEDULING_HORIZON:
            raise ValueError("an assessment is scheduled at most a year ahead")
        return value


class FindingInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Result
    evidence: SafeText = Field("", max_length=MAX_EVIDENCE_LENGTH)
    evidence_refs: list[Annotated[Token, Field(max_length=MAX_REFERENCE_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_EVIDENCE_REFS, description="Document ids or URLs."
    )

    def facts(self) -> FindingFacts:
        return FindingFacts(
            result=self.result, evidence=self.evidence, evidence_refs=tuple(self.evidence_refs)
        )


MAX_FINDINGS_AT_ONCE = 500


class FindingOfQuestion(FindingInput):
    question_id: ResourceId


class FindingsInput(BaseModel):
    """Findings recorded at once (an on-site team's whole assessment): all or nothing."""

    model_config = ConfigDict(extra="forbid")

    findings: list[FindingOfQuestion] = Field(min_length=1, max_length=MAX_FINDINGS_AT_ONCE)


class FindingCorrection(FindingInput):
    reason: SafeText = Field(min_length=1, max_length=2_000)


class FindingResponseInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["response", "dispute"] = "response"
    text: SafeText = Field(min_length=1, max_length=10_000)
    reason: SafeText | None = Field(None, max_length=2_000, description="Required for a dispute.")


class HistoryEntry(BaseModel):
    version: int
    event_type: str
    event_id: str
    occurred_at: datetime = Field(
        description="Business time: when the fact happened (a live command's: when recorded)."
    )
    recorded_at: datetime = Field(description="When the event store recorded it.")
    imported_from: str | None = Field(
        description="The history bundle an imported fact came from (null: the live API)."
    )
    actor: str | None
    data: dict[str, Any]

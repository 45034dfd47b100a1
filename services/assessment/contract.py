"""The assessment service's public events: its contract with other services and with buyers'
webhooks, typed, versioned and documented (docs/asyncapi.yaml), translated from the internal events
in one place (`translate`).

Publication rules (docs/assessment.md, "Publication rules"):
- Findings of an assessment that is not completed never leave the service: recorded findings (and
  the immediate zero-tolerance escalation) are private; what is found is published when the report
  exists (`AssessmentCompleted`, one `NonComplianceFound` per non-compliance and a
  `ZeroToleranceIssueFound` for each zero-tolerance one), and corrections and the factory's
  responses after it.
- Assessments are unannounced: the only public event of an assessment before its report is
  `AssessmentScheduled`, which says neither when nor by whom, and which is for the programme's own
  services, never delivered to buyers (notifications does not offer it to webhook endpoints).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.credentials.dcc import credential_id
from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent
from services.assessment.credential_contract import ReportCredentialIssued, credential_issued
from services.assessment.domain import assessment_events as internal
from services.assessment.domain import factory as internal_factory
from services.assessment.domain.assessment_state import Assessment
from services.assessment.domain.credential import changes_report

SERVICE = "assessment"

Result = Literal["compliant", "non_compliant", "not_applicable"]


class PublicModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Workforce(PublicModel):
    """The factory's workers by gender."""

    women: int = Field(ge=0, description="Women employed.")
    men: int = Field(ge=0, description="Men employed.")


class FactoryRegistered(DomainEvent):
    """A factory was registered with the programme."""

    factory_id: str = Field(description="The factory's id in this system.")
    name: str
    country: str = Field(description="ISO 3166-1 alpha-2 country code.")
    address: str
    sector_isic: str = Field(description="ISIC Rev.4 division, group or class.")
    workforce: Workforce
    os_id: str | None = Field(description="Open Supply Hub ID, normalised; null if none.")


class FactoryUpdated(DomainEvent):
    """A factory's registration details changed; carries all of them as they now are."""

    factory_id: str
    name: str
    country: str = Field(description="ISO 3166-1 alpha-2 country code.")
    address: str
    sector_isic: str = Field(description="ISIC Rev.4 division, group or class.")
    workforce: Workforce
    os_id: str | None = Field(description="Open Supply Hub ID, normalised; null if none.")


class AssessmentScheduled(DomainEvent):
    """An assessment of a factory was scheduled for a cycle: for the programme's own services
    only, never delivered to buyers.

    Assessments are unannounced: the date and the assessors are not published, and nothing
    recorded before the report leaves the service. Buyers cannot subscribe to this event
    (notifications does not offer it to webhook endpoints); a buyer learns of an assessment from
    its `AssessmentCompleted`."""

    assessment_id: str
    factory_id: str
    cycle: int = Field(ge=1, description="The factory's assessment cycle, 1 for the first.")
    country: str
    catalogue_version: str = Field(description="Version of the compliance catalogue it uses.")


class ClusterResult(PublicModel):
    """Non-compliance in one cluster of the catalogue."""

    cluster_id: str
    cluster_name: str
    questions: int = Field(ge=0, description="Questions answered in the cluster.")
    non_compliant: int = Field(ge=0, description="Questions found non-compliant.")
    rate: float = Field(ge=0, le=1, description="non_compliant / questions (0 when none).")


class QuestionResult(PublicModel):
    """The result of one answered question of the report."""

    question_id: str
    cluster_id: str
    compliance_point_id: str
    critical: bool = Field(description="One of the programme's critical issues.")
    zero_tolerance: bool
    result: Result


class AssessmentCompleted(DomainEvent):
    """An assessment was completed: its report is official from now on.

    Version 2 adds `results`, every answered question's result (compliant ones too), from which
    readers derive compliance per compliance point and on each critical issue. A reader of
    version 1 data upcasts it with an empty `results`. `credential_id` (added, optional) names
    the report's verifiable credential, issued in the same transaction
    (`ReportCredentialIssued`)."""

    schema_version = 2

    assessment_id: str
    factory_id: str
    cycle: int = Field(ge=1)
    country: str
    catalogue_version: str
    report_date: date
    non_compliance_count: int = Field(ge=0, description="How many NonComplianceFound follow.")
    summary: tuple[ClusterResult, ...] = Field(description="Non-compliance per cluster.")
    results: tuple[QuestionResult, ...] = Field(
        description="Every answered question's result, in catalogue order."
    )
    credential_id: str | None = Field(
        None,
        description="The report's verifiable credential (`urn:uuid:…`, revision 0), published "
        "as ReportCredentialIssued; null in events from before credentials were issued.",
    )


class NonComplianceFound(DomainEvent):
    """A question was found non-compliant in a completed assessment (one event per finding)."""

    assessment_id: str
    factory_id: str
    cycle: int = Field(ge=1)
    report_date: date
    cluster_id: str
    cluster_name: str
    compliance_point_id: str
    compliance_point_name: str
    question_id: str
    question_text: str
    critical: bool = Field(description="One of the programme's critical issues.")
    zero_tolerance: bool = Field(description="A zero-tolerance issue (escalated at once).")
    evidence: str = Field(description="What the assessors saw.")


class ZeroToleranceIssueFound(DomainEvent):
    """A completed assessment found a zero-tolerance issue (also sent as NonComplianceFound)."""

    assessment_id: str
    factory_id: str
    cycle: int = Field(ge=1)
    report_date: date
    cluster_id: str
    compliance_point_id: str
    question_id: str
    question_text: str


class FindingCorrected(DomainEvent):
    """A finding of a completed report was corrected, with the reason and who corrected it."""

    assessment_id: str
    factory_id: str
    question_id: str
    result_before: Result
    result_after: Result
    evidence: str = Field(description="The corrected finding's evidence.")
    reason: str
    corrected_by: str
    credential_id: str | None = Field(
        None,
        description="The report's new verifiable credential when the correction changed the "
        "report (published as ReportCredentialIssued, superseding the one before); null when it "
        "did not (only a compliant finding's evidence changed) or for an imported correction "
        "(an imported report's one credential is issued for it as imported).",
    )


class FactoryResponded(DomainEvent):
    """The factory responded to a finding of its completed report."""

    assessment_id: str
    factory_id: str
    question_id: str
    text: str


class FindingDisputed(DomainEvent):
    """The factory disputed a finding of its completed report."""

    assessment_id: str
    factory_id: str
    question_id: str
    text: str
    reason: str


PUBLIC_EVENTS: tuple[type[DomainEvent], ...] = (
    FactoryRegistered,
    FactoryUpdated,
    AssessmentScheduled,
    AssessmentCompleted,
    NonComplianceFound,
    ZeroToleranceIssueFound,
    FindingCorrected,
    FactoryResponded,
    FindingDisputed,
    ReportCredentialIssued,
)


def _factory_details(
    event: internal_factory.FactoryRegistered | internal_factory.FactoryUpdated,
) -> dict[str, Any]:
    return {
        "factory_id": event.factory_id,
        "name": event.name,
        "country": event.country,
        "address": event.address,
        "sector_isic": event.sector_isic,
        "workforce": Workforce(women=event.workforce.women, men=event.workforce.men),
        "os_id": event.os_id,
    }


# FindingRecorded and the immediate ZeroToleranceIssueFound belong to an assessment that is not
# completed yet: they never leave the service. Most of an assessment's events are recorded
# findings, so they are answered first, by their exact type.
_PRIVATE = frozenset({internal.FindingRecorded, internal.ZeroToleranceIssueFound})


def translate(event: DomainEvent, state: Any = None) -> Sequence[DomainEvent]:
    """The public events an internal event publishes; every field is mapped by name here, so an
    internal change cannot silently change the contract."""
    if type(event) in _PRIVATE:
        return []
    if isinstance(event, internal_factory.FactoryRegistered):
        return [FactoryRegistered(**_factory_details(event))]
    if isinstance(event, internal_factory.FactoryUpdated):
        return [FactoryUpdated(**_factory_details(event))]
    if isinstance(event, internal.AssessmentScheduled):
        return [
            AssessmentScheduled(
                assessment_id=event.assessment_id,
                factory_id=event.factory_id,
                cycle=event.cycle,
                country=event.country,
                catalogue_version=event.catalogue_version,
            )
        ]
    if isinstance(event, internal.AssessmentCompleted):
        return [_completed(event)]
    if isinstance(event, internal.ReportCredentialIssued):
        return [credential_issued(event)]
    if isinstance(event, internal.NonComplianceFound):
        return _non_compliance(event)
    if isinstance(event, internal.FindingCorrected):
        # The domain allows corrections only once the report exists.
        return [
            FindingCorrected(
                assessment_id=event.assessment_id,
                factory_id=event.factory_id,
                question_id=event.question_id,
                result_before=event.before.result,
                result_after=event.after.result,
                evidence=event.after.evidence,
                reason=event.reason,
                corrected_by=event.corrected_by,
                credential_id=_correction_credential(event, state),
            )
        ]
    if isinstance(event, internal.FactoryResponded):
        return [
            FactoryResponded(
                assessment_id=event.assessment_id,
                factory_id=event.factory_id,
                question_id=event.question_id,
                text=event.text,
            )
        ]
    if isinstance(event, internal.FindingDisputed):
        return [
            FindingDisputed(
                assessment_id=event.assessment_id,
                factory_id=event.factory_id,
                question_id=event.question_id,
                text=event.text,
                reason=event.reason,
            )
        ]
    return []


def _correction_credential(event: internal.FindingCorrected, state: Any) -> str | None:
    """The credential a correction issues (the next revision), when it changes the report and
    the report already has one (the state after the correction knows its latest)."""
    if not isinstance(state, Assessment) or state.credential_revision is None:
        return None
    if not changes_report(event.before, event.after):
        return None
    return credential_id(event.assessment_id, state.credential_revision + 1)


def _completed(event: internal.AssessmentCompleted) -> AssessmentCompleted:
    return AssessmentCompleted(
        assessment_id=event.assessment_id,
        factory_id=event.factory_id,
        cycle=event.cycle,
        country=event.country,
        catalogue_version=event.catalogue_version,
        report_date=event.report_date,
        non_compliance_count=event.non_compliance_count,
        summary=tuple(
            ClusterResult(
                cluster_id=cluster.cluster_id,
                cluster_name=cluster.cluster_name,
                questions=cluster.questions,
                non_compliant=cluster.non_compliant,
                rate=cluster.rate,
            )
            for cluster in event.summary
        ),
        results=tuple(
            QuestionResult(
                question_id=result.question_id,
                cluster_id=result.cluster_id,
                compliance_point_id=result.compliance_point_id,
                critical=result.critical,
                zero_tolerance=result.zero_tolerance,
                result=result.result,
            )
            for result in event.results
        ),
        credential_id=credential_id(event.assessment_id, 0),
    )


def _non_compliance(event: internal.NonComplianceFound) -> list[DomainEvent]:
    found: list[DomainEvent] = [
        NonComplianceFound(
            assessment_id=event.assessment_id,
            factory_id=event.factory_id,
            cycle=event.cycle,
            report_date=event.report_date,
            cluster_id=event.cluster_id,
            cluster_name=event.cluster_name,
            compliance_point_id=event.compliance_point_id,
            compliance_point_name=event.compliance_point_name,
            question_id=event.question_id,
            question_text=event.question_text,
            critical=event.critical,
            zero_tolerance=event.zero_tolerance,
            evidence=event.evidence,
        )
    ]
    if event.zero_tolerance:
        found.append(
            ZeroToleranceIssueFound(
                assessment_id=event.assessment_id,
                factory_id=event.factory_id,
                cycle=event.cycle,
                report_date=event.report_date,
                cluster_id=event.cluster_id,
                compliance_point_id=event.compliance_point_id,
                question_id=event.question_id,
                question_text=event.question_text,
            )
        )
    return found


CONTRACT = PublicContract.of(SERVICE, PUBLIC_EVENTS, translate)

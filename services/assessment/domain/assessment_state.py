"""The Assessment aggregate's state, folded from its events, and its snapshot form (a long stream
of recorded findings loads from its latest snapshot and the events after it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

from libs.domain.aggregate import AggregateType, Snapshots
from libs.domain.envelope import DomainEvent
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryResponded,
    FindingCorrected,
    FindingDisputed,
    FindingFacts,
    FindingRecorded,
    ReportCredentialIssued,
)

Status = Literal["scheduled", "completed"]

# An assessment records about 90-250 findings (more when some are recorded again). A command loads
# the snapshot and the events after it: every 25 events keeps that tail short (folding ~50 events
# a command was 22% of the service's CPU under load at every 100; 16 concurrent recorders went
# from 123-158 to 156-188 requests/s), while a snapshot is written once per 25 events.
SNAPSHOT_EVERY = 25


@dataclass(frozen=True)
class Finding:
    question_id: str
    facts: FindingFacts
    recorded_by: str


@dataclass(frozen=True)
class Assessment:
    assessment_id: str
    factory_id: str
    cycle: int
    country: str
    catalogue_version: str
    scheduled_for: date
    assessors: tuple[str, ...]
    status: Status = "scheduled"
    findings: dict[str, Finding] = field(default_factory=dict)
    report_date: date | None = None
    # how often each question's finding was recorded, corrected and answered
    recordings: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)
    # the report's latest verifiable credential (None before the first is issued)
    credential_id: str | None = None
    credential_revision: int | None = None

    @property
    def completed(self) -> bool:
        return self.status == "completed"


def evolve(assessment: Assessment | None, event: DomainEvent) -> Assessment | None:
    if isinstance(event, AssessmentScheduled):
        return Assessment(
            assessment_id=event.assessment_id,
            factory_id=event.factory_id,
            cycle=event.cycle,
            country=event.country,
            catalogue_version=event.catalogue_version,
            scheduled_for=event.scheduled_for,
            assessors=event.assessors,
        )
    if assessment is None:
        return None
    if isinstance(event, FindingRecorded):
        facts = FindingFacts(
            result=event.result, evidence=event.evidence, evidence_refs=event.evidence_refs
        )
        finding = Finding(event.question_id, facts, event.recorded_by)
        return _replaced(
            assessment,
            findings={**assessment.findings, event.question_id: finding},
            recordings=_counted(assessment.recordings, event.question_id),
        )
    if isinstance(event, FindingCorrected):
        finding = Finding(event.question_id, event.after, event.corrected_by)
        return replace(
            assessment,
            findings={**assessment.findings, event.question_id: finding},
            corrections=_counted(assessment.corrections, event.question_id),
        )
    if isinstance(event, FactoryResponded | FindingDisputed):
        return replace(assessment, responses=_counted(assessment.responses, event.question_id))
    if isinstance(event, AssessmentCompleted):
        return replace(assessment, status="completed", report_date=event.report_date)
    if isinstance(event, ReportCredentialIssued):
        return replace(
            assessment, credential_id=event.credential_id, credential_revision=event.revision
        )
    return assessment


def _replaced(assessment: Assessment, **changes: Any) -> Assessment:
    """`dataclasses.replace` without the checks and the frozen `__init__` it runs again: a
    stream folds one FindingRecorded after another, and `replace` was a third of folding an
    assessment's findings (measured on the history import)."""
    copied = object.__new__(Assessment)
    copied.__dict__.update(assessment.__dict__, **changes)
    return copied


def _counted(counts: dict[str, int], question_id: str) -> dict[str, int]:
    return {**counts, question_id: counts.get(question_id, 0) + 1}


def dump(assessment: Assessment | None) -> dict[str, Any]:
    """The state as JSON values, for a snapshot."""
    if assessment is None:
        return {"assessment": None}
    return {
        "assessment": {
            "assessment_id": assessment.assessment_id,
            "factory_id": assessment.factory_id,
            "cycle": assessment.cycle,
            "country": assessment.country,
            "catalogue_version": assessment.catalogue_version,
            "scheduled_for": assessment.scheduled_for.isoformat(),
            "assessors": list(assessment.assessors),
            "status": assessment.status,
            "findings": [
                {
                    "question_id": finding.question_id,
                    "facts": finding.facts.model_dump(mode="json"),
                    "recorded_by": finding.recorded_by,
                }
                for finding in assessment.findings.values()
            ],
            "report_date": assessment.report_date.isoformat() if assessment.report_date else None,
            "recordings": assessment.recordings,
            "corrections": assessment.corrections,
            "responses": assessment.responses,
            "credential_id": assessment.credential_id,
            "credential_revision": assessment.credential_revision,
        }
    }


def restore(dumped: dict[str, Any]) -> Assessment | None:
    """The state `dump` wrote."""
    values = dumped["assessment"]
    if values is None:
        return None
    report_date = values["report_date"]
    return Assessment(
        assessment_id=values["assessment_id"],
        factory_id=values["factory_id"],
        cycle=values["cycle"],
        country=values["country"],
        catalogue_version=values["catalogue_version"],
        scheduled_for=date.fromisoformat(values["scheduled_for"]),
        assessors=tuple(values["assessors"]),
        status=values["status"],
        findings={
            finding["question_id"]: Finding(
                finding["question_id"],
                FindingFacts.model_validate(finding["facts"]),
                finding["recorded_by"],
            )
            for finding in values["findings"]
        },
        report_date=date.fromisoformat(report_date) if report_date else None,
        recordings=dict(values["recordings"]),
        corrections=dict(values["corrections"]),
        responses=dict(values["responses"]),
        # snapshots written before credentials were issued have neither
        credential_id=values.get("credential_id"),
        credential_revision=values.get("credential_revision"),
    )


ASSESSMENT: AggregateType[Assessment | None] = AggregateType(
    stream_type="assessment",
    stream_prefix="assessment-",
    initial=None,
    evolve=evolve,
    snapshots=Snapshots(every=SNAPSHOT_EVERY, dump=dump, restore=restore),
)

"""What the assessment domain tests start from: the Cambodian catalogue, findings' facts, and the
events and states of a factory and an assessment (given events ... when a rule decides ...)."""

from __future__ import annotations

from datetime import date

from libs.domain.envelope import DomainEvent
from services.assessment.compliance_catalogue import Catalogue, load_library
from services.assessment.domain.assessment import complete_assessment
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FindingFacts,
    FindingRecorded,
)
from services.assessment.domain.assessment_state import ASSESSMENT, Assessment
from services.assessment.domain.factory import FACTORY, Factory, FactoryDetails, register_factory

LIBRARY = load_library()
CAMBODIA = LIBRARY.resolve(LIBRARY.latest_version, "KH")
assert CAMBODIA is not None
CATALOGUE: Catalogue = CAMBODIA
ASSESSOR = "assessor-1"
REPORT_DATE = date(2025, 3, 4)

COMPLIANT = FindingFacts(result="compliant", evidence="", evidence_refs=())
NON_COMPLIANT = FindingFacts(
    result="non_compliant", evidence="Exit on floor 2 padlocked", evidence_refs=("doc-7",)
)


def details(**changes: object) -> FactoryDetails:
    base: dict[str, object] = {
        "name": "Mekong Garments",
        "country": "KH",
        "address": "Street 2004, Phnom Penh",
        "sector_isic": "1410",
        "workforce": {"women": 800, "men": 200},
        "os_id": None,
    }
    return FactoryDetails.model_validate({**base, **changes})


def scheduled() -> AssessmentScheduled:
    return AssessmentScheduled(
        assessment_id="a-1",
        factory_id="f-1",
        cycle=1,
        scheduled_for=date(2025, 3, 3),
        assessors=(ASSESSOR, "assessor-2"),
        country="KH",
        catalogue_version=CATALOGUE.version,
    )


def recorded(question_id: str, facts: FindingFacts = COMPLIANT) -> FindingRecorded:
    return FindingRecorded(
        assessment_id="a-1",
        factory_id="f-1",
        question_id=question_id,
        result=facts.result,
        evidence=facts.evidence,
        evidence_refs=facts.evidence_refs,
        recorded_by=ASSESSOR,
    )


def all_critical_answered(except_for: str = "") -> list[DomainEvent]:
    return [recorded(q) for q in CATALOGUE.critical_question_ids if q != except_for]


def given(*events: DomainEvent) -> Assessment:
    assessment = ASSESSMENT.fold(events)
    assert assessment is not None
    return assessment


def registered(**changes: object) -> Factory:
    factory = FACTORY.fold(register_factory(None, "f-1", details(**changes)))
    assert factory is not None
    return factory


def completed_event() -> AssessmentCompleted:
    events = complete_assessment(
        given(scheduled(), *all_critical_answered()),
        CATALOGUE,
        completed_by=ASSESSOR,
        report_date=REPORT_DATE,
    )
    completed = events[0]
    assert isinstance(completed, AssessmentCompleted)
    return completed

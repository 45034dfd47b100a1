"""Our own narrow copies of the assessment service's events that remediation reacts to
(registered under service "assessment"; fields we do not read are ignored)."""

from __future__ import annotations

from datetime import date

from libs.events import DomainEvent


class AssessmentCompleted(DomainEvent):
    assessment_id: str
    factory_id: str
    cycle: int
    report_date: date
    non_compliance_count: int = 0


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


UPSTREAM_EVENTS: tuple[type[DomainEvent], ...] = (AssessmentCompleted, NonComplianceFound)

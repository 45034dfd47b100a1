"""The Assessment aggregate's rules: pure `decide` functions of the folded state, the pinned
catalogue and the facts they need (who, when), returning new events or raising a domain error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from libs.domain.aggregate import Decided
from libs.domain.envelope import DomainEvent
from libs.domain.errors import Conflict, DomainError
from services.assessment.compliance_catalogue import Catalogue
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    ClusterSummary,
    FactoryResponded,
    FindingCorrected,
    FindingDisputed,
    FindingFacts,
    FindingRecorded,
    NonComplianceFound,
    QuestionResult,
    ZeroToleranceIssueFound,
)
from services.assessment.domain.assessment_state import Assessment, Finding, evolve
from services.assessment.domain.factory import Factory
from services.assessment.errors import (
    AssessmentAlreadyCompleted,
    AssessmentNotCompleted,
    CriticalQuestionsUnanswered,
    EvidenceRequired,
    LimitReached,
    NoFindingForQuestion,
    NothingToCorrect,
    UnknownQuestion,
)

# Bounds on what grows with use, so no stream, read model or report grows without limit. A
# finding is recorded once or twice in practice and corrected rarely; a factory answers a
# finding a few times at most.
MAX_RECORDINGS_PER_FINDING = 20
MAX_CORRECTIONS_PER_FINDING = 20
MAX_RESPONSES_PER_FINDING = 20


def _check_limit(counts: dict[str, int], question_id: str, limit: int, what: str) -> None:
    if counts.get(question_id, 0) >= limit:
        raise LimitReached(what, limit, question_id)


def schedule_assessment(
    assessment: Assessment | None,
    *,
    assessment_id: str,
    factory: Factory,
    cycle: int,
    scheduled_for: date,
    assessors: Sequence[str],
    catalogue: Catalogue,
) -> list[DomainEvent]:
    if assessment is not None:
        raise Conflict(f"assessment {assessment_id} already exists")
    names = [assessor.strip() for assessor in assessors]
    if not names or any(not name for name in names) or len(set(names)) != len(names):
        raise DomainError("an assessment needs one or more distinct, non-empty assessors")
    return [
        AssessmentScheduled(
            assessment_id=assessment_id,
            factory_id=factory.factory_id,
            cycle=cycle,
            scheduled_for=scheduled_for,
            assessors=tuple(names),
            country=factory.country,
            catalogue_version=catalogue.version,
        )
    ]


def _zero_tolerance_raised(
    assessment: Assessment, catalogue: Catalogue, question_id: str, facts: FindingFacts, by: str
) -> list[DomainEvent]:
    """A zero-tolerance non-compliance escalates at once, but only when it newly becomes one."""
    entry = catalogue.question(question_id)
    previous = assessment.findings.get(question_id)
    if (
        entry is None
        or not entry.question.zero_tolerance
        or facts.result != "non_compliant"
        or (previous is not None and previous.facts.result == "non_compliant")
    ):
        return []
    return [
        ZeroToleranceIssueFound(
            assessment_id=assessment.assessment_id,
            factory_id=assessment.factory_id,
            question_id=question_id,
            cluster_id=entry.cluster.id,
            compliance_point_id=entry.point.id,
            question_text=entry.question.text,
            evidence=facts.evidence,
            recorded_by=by,
        )
    ]


def _checked_facts(
    assessment: Assessment, catalogue: Catalogue, question_id: str, facts: FindingFacts
) -> None:
    if catalogue.question(question_id) is None:
        raise UnknownQuestion(question_id, assessment.catalogue_version, assessment.country)
    if facts.result == "non_compliant" and not facts.evidence.strip():
        raise EvidenceRequired(
            "a non-compliant finding needs evidence text", question_id=question_id
        )


def record_finding(
    assessment: Assessment,
    catalogue: Catalogue,
    *,
    question_id: str,
    facts: FindingFacts,
    recorded_by: str,
) -> list[DomainEvent]:
    """Before completion a question's finding may be recorded again; the latest one counts."""
    if assessment.completed:
        raise AssessmentAlreadyCompleted(assessment.assessment_id)
    _checked_facts(assessment, catalogue, question_id, facts)
    _check_limit(
        assessment.recordings, question_id, MAX_RECORDINGS_PER_FINDING, "recording a finding"
    )
    recorded = FindingRecorded(
        assessment_id=assessment.assessment_id,
        factory_id=assessment.factory_id,
        question_id=question_id,
        result=facts.result,
        evidence=facts.evidence,
        evidence_refs=facts.evidence_refs,
        recorded_by=recorded_by,
    )
    return [
        recorded,
        *_zero_tolerance_raised(assessment, catalogue, question_id, facts, recorded_by),
    ]


def record_findings(
    assessment: Assessment,
    catalogue: Catalogue,
    *,
    findings: Sequence[tuple[str, FindingFacts]],
    recorded_by: str,
) -> Decided[Assessment | None]:
    """An on-site team records many findings at once: each as `record_finding` would, decided on
    the state the ones before it left; one refused finding refuses them all. The states after
    each event come along (the repository does not fold the events again)."""
    seen: set[str] = set()
    events: Decided[Assessment | None] = Decided()
    state: Assessment | None = assessment
    for question_id, facts in findings:
        if question_id in seen:
            raise DomainError(
                f"question {question_id} appears twice in the findings", question_id=question_id
            )
        seen.add(question_id)
        assert state is not None
        decided = record_finding(
            state, catalogue, question_id=question_id, facts=facts, recorded_by=recorded_by
        )
        for event in decided:
            state = evolve(state, event)
            events.add(event, state)
    return events


def _non_compliance(
    assessment: Assessment, catalogue: Catalogue, finding: Finding, report_date: date
) -> NonComplianceFound:
    entry = catalogue.question(finding.question_id)
    assert entry is not None  # findings are only ever recorded for catalogue questions
    return NonComplianceFound(
        assessment_id=assessment.assessment_id,
        factory_id=assessment.factory_id,
        cycle=assessment.cycle,
        report_date=report_date,
        cluster_id=entry.cluster.id,
        cluster_name=entry.cluster.name,
        compliance_point_id=entry.point.id,
        compliance_point_name=entry.point.name,
        question_id=entry.question.id,
        question_text=entry.question.text,
        critical=entry.question.critical,
        zero_tolerance=entry.question.zero_tolerance,
        evidence=finding.facts.evidence,
        evidence_refs=finding.facts.evidence_refs,
    )


def summarise(assessment: Assessment, catalogue: Catalogue) -> tuple[ClusterSummary, ...]:
    """Per cluster: applicable questions answered, how many are non-compliant, and the rate."""
    summaries = []
    for cluster in catalogue.clusters:
        results = [
            assessment.findings[question.id].facts.result
            for point in cluster.points
            for question in point.questions
            if question.id in assessment.findings
        ]
        applicable = [result for result in results if result != "not_applicable"]
        non_compliant = sum(result == "non_compliant" for result in applicable)
        summaries.append(
            ClusterSummary(
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                questions=len(applicable),
                non_compliant=non_compliant,
                rate=round(non_compliant / len(applicable), 4) if applicable else 0.0,
            )
        )
    return tuple(summaries)


def complete_assessment(
    assessment: Assessment, catalogue: Catalogue, *, completed_by: str, report_date: date
) -> list[DomainEvent]:
    """Completion makes the findings the official report and emits one NonComplianceFound each."""
    if assessment.completed:
        raise AssessmentAlreadyCompleted(assessment.assessment_id)
    unanswered = [
        question_id
        for question_id in catalogue.critical_question_ids
        if question_id not in assessment.findings
    ]
    if unanswered:
        raise CriticalQuestionsUnanswered(unanswered)
    answered = [
        entry for entry in catalogue.questions() if entry.question.id in assessment.findings
    ]
    non_compliances = [
        _non_compliance(assessment, catalogue, assessment.findings[entry.question.id], report_date)
        for entry in answered
        if assessment.findings[entry.question.id].facts.result == "non_compliant"
    ]
    completed = AssessmentCompleted(
        assessment_id=assessment.assessment_id,
        factory_id=assessment.factory_id,
        cycle=assessment.cycle,
        catalogue_version=assessment.catalogue_version,
        country=assessment.country,
        report_date=report_date,
        completed_by=completed_by,
        non_compliance_count=len(non_compliances),
        summary=summarise(assessment, catalogue),
        results=tuple(
            QuestionResult(
                question_id=entry.question.id,
                cluster_id=entry.cluster.id,
                compliance_point_id=entry.point.id,
                critical=entry.question.critical,
                zero_tolerance=entry.question.zero_tolerance,
                result=assessment.findings[entry.question.id].facts.result,
            )
            for entry in answered
        ),
    )
    return [completed, *non_compliances]


def correct_finding(
    assessment: Assessment,
    catalogue: Catalogue,
    *,
    question_id: str,
    facts: FindingFacts,
    corrected_by: str,
    reason: str,
) -> list[DomainEvent]:
    """After completion a finding changes only by an attributed correction, never an edit.

    A correction that turns a finding non-compliant also emits NonComplianceFound (and, for a
    zero-tolerance question, ZeroToleranceIssueFound), so remediation learns of it like any other.
    """
    if not assessment.completed or assessment.report_date is None:
        raise AssessmentNotCompleted(assessment.assessment_id)
    _checked_facts(assessment, catalogue, question_id, facts)
    if not reason.strip():
        raise DomainError("a correction needs a reason")
    previous = assessment.findings.get(question_id)
    if previous is None:
        raise NoFindingForQuestion(question_id)
    if previous.facts == facts:
        raise NothingToCorrect(
            "the correction is identical to the finding", question_id=question_id
        )
    _check_limit(assessment.corrections, question_id, MAX_CORRECTIONS_PER_FINDING, "correcting")
    events: list[DomainEvent] = [
        FindingCorrected(
            assessment_id=assessment.assessment_id,
            factory_id=assessment.factory_id,
            question_id=question_id,
            corrected_by=corrected_by,
            reason=reason.strip(),
            before=previous.facts,
            after=facts,
        )
    ]
    if facts.result == "non_compliant" and previous.facts.result != "non_compliant":
        events += _zero_tolerance_raised(assessment, catalogue, question_id, facts, corrected_by)
        corrected = Finding(question_id, facts, corrected_by)
        events.append(_non_compliance(assessment, catalogue, corrected, assessment.report_date))
    return events


def respond_to_finding(
    assessment: Assessment,
    *,
    question_id: str,
    responded_by: str,
    text: str,
    dispute_reason: str | None = None,
) -> list[DomainEvent]:
    """The factory answers a finding of its official report, or disputes it with a reason."""
    if not assessment.completed:
        raise AssessmentNotCompleted(assessment.assessment_id)
    if question_id not in assessment.findings:
        raise NoFindingForQuestion(question_id)
    if not text.strip():
        raise DomainError("a response needs text")
    _check_limit(assessment.responses, question_id, MAX_RESPONSES_PER_FINDING, "responding")
    if dispute_reason is not None:
        if not dispute_reason.strip():
            raise DomainError("a dispute needs a reason")
        return [
            FindingDisputed(
                assessment_id=assessment.assessment_id,
                factory_id=assessment.factory_id,
                question_id=question_id,
                responded_by=responded_by,
                text=text.strip(),
                reason=dispute_reason.strip(),
            )
        ]
    return [
        FactoryResponded(
            assessment_id=assessment.assessment_id,
            factory_id=assessment.factory_id,
            question_id=question_id,
            responded_by=responded_by,
            text=text.strip(),
        )
    ]

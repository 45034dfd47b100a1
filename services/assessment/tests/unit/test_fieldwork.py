"""The Assessment's rules on site: scheduling, recording findings and completion, as given events /
when command / then events. No I/O."""

from __future__ import annotations

from datetime import date

import pytest

from libs.domain.errors import DomainError
from services.assessment.domain.assessment import (
    complete_assessment,
    record_finding,
    schedule_assessment,
)
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FindingFacts,
    FindingRecorded,
    NonComplianceFound,
    ZeroToleranceIssueFound,
)
from services.assessment.errors import (
    AssessmentAlreadyCompleted,
    CriticalQuestionsUnanswered,
    EvidenceRequired,
    UnknownQuestion,
)
from services.assessment.tests.unit.given import (
    ASSESSOR,
    CATALOGUE,
    COMPLIANT,
    NON_COMPLIANT,
    REPORT_DATE,
    all_critical_answered,
    completed_event,
    given,
    recorded,
    registered,
    scheduled,
)


class TestScheduleAssessment:
    def test_pins_the_catalogue_version_and_the_factory_country(self) -> None:
        [event] = schedule_assessment(
            None,
            assessment_id="a-1",
            factory=registered(),
            cycle=2,
            scheduled_for=date(2025, 3, 3),
            assessors=["x", "y"],
            catalogue=CATALOGUE,
        )
        assert isinstance(event, AssessmentScheduled)
        assert (event.cycle, event.country, event.catalogue_version) == (2, "KH", "2025.1")

    def test_rejects_duplicate_assessors(self) -> None:
        with pytest.raises(DomainError):
            schedule_assessment(
                None,
                assessment_id="a-1",
                factory=registered(),
                cycle=1,
                scheduled_for=date(2025, 3, 3),
                assessors=["x", "x"],
                catalogue=CATALOGUE,
            )


class TestRecordFinding:
    def test_records_a_finding(self) -> None:
        events = record_finding(
            given(scheduled()),
            CATALOGUE,
            question_id="OSH-EMP-01",
            facts=NON_COMPLIANT,
            recorded_by=ASSESSOR,
        )
        assert events == [recorded("OSH-EMP-01", NON_COMPLIANT)]

    def test_a_zero_tolerance_non_compliance_is_raised_at_once(self) -> None:
        events = record_finding(
            given(scheduled()),
            CATALOGUE,
            question_id="CHL-CHI-01",
            facts=NON_COMPLIANT,
            recorded_by=ASSESSOR,
        )
        assert [type(e) for e in events] == [FindingRecorded, ZeroToleranceIssueFound]
        raised = events[1]
        assert isinstance(raised, ZeroToleranceIssueFound)
        assert (raised.cluster_id, raised.compliance_point_id) == ("CHL", "CHL-CHI")

    def test_a_zero_tolerance_issue_is_not_raised_twice(self) -> None:
        assessment = given(scheduled(), recorded("CHL-CHI-01", NON_COMPLIANT))
        events = record_finding(
            assessment,
            CATALOGUE,
            question_id="CHL-CHI-01",
            facts=NON_COMPLIANT,
            recorded_by=ASSESSOR,
        )
        assert [type(e) for e in events] == [FindingRecorded]

    def test_rejects_a_question_outside_the_pinned_catalogue(self) -> None:
        # BD's festival-bonus question is not in Cambodia's catalogue
        with pytest.raises(UnknownQuestion):
            record_finding(
                given(scheduled()),
                CATALOGUE,
                question_id="COM-PRE-BD01",
                facts=COMPLIANT,
                recorded_by=ASSESSOR,
            )

    def test_rejects_a_non_compliance_without_evidence(self) -> None:
        with pytest.raises(EvidenceRequired):
            record_finding(
                given(scheduled()),
                CATALOGUE,
                question_id="OSH-EMP-01",
                facts=FindingFacts(result="non_compliant", evidence=" ", evidence_refs=()),
                recorded_by=ASSESSOR,
            )

    def test_rejects_a_finding_on_a_completed_assessment(self) -> None:
        assessment = given(scheduled(), *all_critical_answered(), completed_event())
        with pytest.raises(AssessmentAlreadyCompleted):
            record_finding(
                assessment,
                CATALOGUE,
                question_id="OSH-EMP-04",
                facts=COMPLIANT,
                recorded_by=ASSESSOR,
            )


class TestCompleteAssessment:
    def test_rejects_completion_with_unanswered_critical_questions(self) -> None:
        assessment = given(scheduled(), *all_critical_answered(except_for="OSH-EMP-03"))
        with pytest.raises(CriticalQuestionsUnanswered) as raised:
            complete_assessment(
                assessment, CATALOGUE, completed_by=ASSESSOR, report_date=REPORT_DATE
            )
        assert raised.value.question_ids == ["OSH-EMP-03"]

    def test_completes_with_a_summary_and_one_non_compliance_per_finding(self) -> None:
        # given every critical question answered, two non-compliant (one critical), one not applicable
        assessment = given(
            scheduled(),
            *all_critical_answered(except_for="OSH-EMP-01"),
            recorded("OSH-EMP-01", NON_COMPLIANT),
            recorded("OSH-WEN-01", NON_COMPLIANT),
            recorded(
                "OSH-ACC-01", FindingFacts(result="not_applicable", evidence="", evidence_refs=())
            ),
        )
        # when it is completed
        events = complete_assessment(
            assessment, CATALOGUE, completed_by=ASSESSOR, report_date=REPORT_DATE
        )
        # then
        completed, *non_compliances = events
        assert isinstance(completed, AssessmentCompleted)
        assert completed.non_compliance_count == 2
        assert [type(e) for e in non_compliances] == [NonComplianceFound, NonComplianceFound]
        first = next(e for e in non_compliances if e.question_id == "OSH-EMP-01")  # type: ignore[attr-defined]
        assert isinstance(first, NonComplianceFound)
        assert (first.question_id, first.critical, first.zero_tolerance) == (
            "OSH-EMP-01",
            True,
            False,
        )
        assert (first.cluster_name, first.compliance_point_name) == (
            "Occupational Safety and Health",
            "Emergency Preparedness",
        )
        assert first.evidence_refs == ("doc-7",) and first.report_date == REPORT_DATE
        osh = next(s for s in completed.summary if s.cluster_id == "OSH")
        # 6 critical OSH questions + OSH-WEN-01 answered; the not-applicable one does not count
        assert (osh.questions, osh.non_compliant, osh.rate) == (7, 2, round(2 / 7, 4))
        assert len(completed.summary) == 8

    def test_rejects_a_second_completion(self) -> None:
        assessment = given(scheduled(), *all_critical_answered(), completed_event())
        with pytest.raises(AssessmentAlreadyCompleted):
            complete_assessment(
                assessment, CATALOGUE, completed_by=ASSESSOR, report_date=REPORT_DATE
            )

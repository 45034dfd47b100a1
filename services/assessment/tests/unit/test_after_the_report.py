"""The Assessment's rules once its report exists: attributed corrections, and the factory's
responses and disputes, as given events / when command / then events. No I/O."""

from __future__ import annotations

import pytest

from services.assessment.domain.assessment import correct_finding, respond_to_finding
from services.assessment.domain.assessment_events import (
    FactoryResponded,
    FindingCorrected,
    FindingDisputed,
    NonComplianceFound,
)
from services.assessment.errors import (
    AssessmentNotCompleted,
    NoFindingForQuestion,
    NothingToCorrect,
)
from services.assessment.tests.unit.given import (
    ASSESSOR,
    CATALOGUE,
    COMPLIANT,
    NON_COMPLIANT,
    all_critical_answered,
    completed_event,
    given,
    recorded,
    scheduled,
)


class TestCorrectFinding:
    def test_records_who_why_before_and_after(self) -> None:
        assessment = given(scheduled(), *all_critical_answered(), completed_event())
        events = correct_finding(
            assessment,
            CATALOGUE,
            question_id="OSH-EMP-01",
            facts=NON_COMPLIANT,
            corrected_by="assessor-2",
            reason="photo evidence reviewed",
        )
        corrected, non_compliance = events
        assert isinstance(corrected, FindingCorrected)
        assert (corrected.before, corrected.after) == (COMPLIANT, NON_COMPLIANT)
        assert corrected.corrected_by == "assessor-2"
        assert isinstance(non_compliance, NonComplianceFound)
        assert (
            given(scheduled(), *all_critical_answered(), completed_event(), *events)
            .findings["OSH-EMP-01"]
            .facts
            == NON_COMPLIANT
        )

    def test_rejects_a_correction_before_completion(self) -> None:
        with pytest.raises(AssessmentNotCompleted):
            correct_finding(
                given(scheduled(), recorded("OSH-EMP-01")),
                CATALOGUE,
                question_id="OSH-EMP-01",
                facts=NON_COMPLIANT,
                corrected_by=ASSESSOR,
                reason="r",
            )

    def test_rejects_a_correction_that_changes_nothing(self) -> None:
        assessment = given(scheduled(), *all_critical_answered(), completed_event())
        with pytest.raises(NothingToCorrect):
            correct_finding(
                assessment,
                CATALOGUE,
                question_id="OSH-EMP-01",
                facts=COMPLIANT,
                corrected_by=ASSESSOR,
                reason="r",
            )


class TestRespondToFinding:
    def test_a_factory_responds_or_disputes(self) -> None:
        assessment = given(scheduled(), *all_critical_answered(), completed_event())
        responded = respond_to_finding(
            assessment, question_id="OSH-EMP-01", responded_by="factory-user", text="Fixed"
        )
        disputed = respond_to_finding(
            assessment,
            question_id="OSH-EMP-01",
            responded_by="factory-user",
            text="We disagree",
            dispute_reason="The exit was open",
        )
        assert [type(e) for e in responded + disputed] == [FactoryResponded, FindingDisputed]

    def test_rejects_a_response_to_an_unanswered_question(self) -> None:
        assessment = given(scheduled(), *all_critical_answered(), completed_event())
        with pytest.raises(NoFindingForQuestion):
            respond_to_finding(assessment, question_id="WT-LEA-01", responded_by="f", text="x")

    def test_rejects_a_response_before_the_report_exists(self) -> None:
        with pytest.raises(AssessmentNotCompleted):
            respond_to_finding(
                given(scheduled(), recorded("OSH-EMP-01")),
                question_id="OSH-EMP-01",
                responded_by="f",
                text="x",
            )

"""Factory and Assessment rules, read as given events / when command / then events. No I/O."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from libs.domain.envelope import DomainEvent
from services.assessment.compliance_catalogue import Catalogue, load_library
from services.assessment.domain.assessment import (
    complete_assessment,
    correct_finding,
    record_finding,
    respond_to_finding,
    schedule_assessment,
)
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryResponded,
    FindingCorrected,
    FindingDisputed,
    FindingFacts,
    FindingRecorded,
    NonComplianceFound,
    ZeroToleranceIssueFound,
)
from services.assessment.domain.assessment_state import ASSESSMENT, Assessment
from services.assessment.domain.factory import (
    FACTORY,
    Factory,
    FactoryDetails,
    FactoryRegistered,
    FactoryUpdated,
    Headcount,
    register_factory,
    update_factory,
)
from services.assessment.errors import (
    AssessmentAlreadyCompleted,
    AssessmentNotCompleted,
    CriticalQuestionsUnanswered,
    EvidenceRequired,
    InvalidCommand,
    NoFindingForQuestion,
    NothingToCorrect,
    StateConflict,
    UnknownQuestion,
)
from services.assessment.ids import normalise_os_id

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


class TestOsId:
    def test_accepts_the_documented_example(self) -> None:
        assert normalise_os_id("BD2019257Q2JMGF") == "BD2019257Q2JMGF"

    def test_ignores_hyphens_spaces_and_case(self) -> None:
        assert normalise_os_id("bd-2019-257 q2jmg-f") == "BD2019257Q2JMGF"

    @pytest.mark.parametrize(
        "os_id",
        [
            "BD2019257Q2JMGG",
            "BD2019257Q2JMG",
            "BD2019400Q2JMGF",
            "XX2019257Q2JMGF",
            "BD2019257Q2IMGF",
        ],
    )
    def test_rejects_a_bad_check_character_length_day_country_or_symbol(self, os_id: str) -> None:
        with pytest.raises(ValueError):
            normalise_os_id(os_id)


class TestRegisterFactory:
    def test_registers_with_validated_details(self) -> None:
        events = register_factory(None, "f-1", details(country="bd", os_id="BD2019257Q2JMGF"))
        assert events == [
            FactoryRegistered(
                factory_id="f-1",
                name="Mekong Garments",
                country="BD",
                address="Street 2004, Phnom Penh",
                sector_isic="1410",
                workforce=Headcount(women=800, men=200),
                os_id="BD2019257Q2JMGF",
            )
        ]

    def test_rejects_a_factory_that_is_already_registered(self) -> None:
        with pytest.raises(StateConflict):
            register_factory(registered(), "f-1", details())

    @pytest.mark.parametrize(
        "changes",
        [
            {"country": "ZZ"},
            {"sector_isic": "0400"},
            {"sector_isic": "garments"},
            {"workforce": {"women": -1, "men": 3}},
            {"name": "  "},
            {"os_id": "BD2019257Q2JMGF"},  # an OS ID from another country than the factory's
        ],
    )
    def test_rejects_invalid_details(self, changes: dict[str, object]) -> None:
        with pytest.raises(ValidationError):
            details(**changes)


class TestUpdateFactory:
    def test_records_the_new_details(self) -> None:
        factory = registered()
        events = update_factory(factory, details(workforce={"women": 900, "men": 200}))
        assert [type(e) for e in events] == [FactoryUpdated]
        updated = FACTORY.fold(events, factory)
        assert updated is not None and updated.workforce.women == 900

    def test_records_nothing_when_nothing_changes(self) -> None:
        assert update_factory(registered(), details()) == []


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
        with pytest.raises(InvalidCommand):
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

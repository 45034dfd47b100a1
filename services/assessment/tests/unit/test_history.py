"""A programme's past decided by the aggregates' own rules (domain/history.py), step by step on
the days it happened: given a record of the history bundle, then these steps or a rejection with
the record's field. No I/O."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from libs.domain.history.assessment import AssessmentRecord, FactoryRecord
from services.assessment.compliance_catalogue import load_library
from services.assessment.domain import assessment as rules
from services.assessment.domain.assessment_events import (
    AssessmentCompleted,
    AssessmentScheduled,
    FactoryResponded,
    FindingCorrected,
    FindingDisputed,
    FindingFacts,
    FindingRecorded,
    NonComplianceFound,
)
from services.assessment.domain.assessment_state import ASSESSMENT
from services.assessment.domain.factory import FactoryRegistered, FactoryUpdated
from services.assessment.domain.history import (
    IMPORTED_ASSESSORS,
    Rejected,
    assessment_history,
    catalogue_for,
    cycle_conflict,
    factory_history,
)
from services.assessment.tests.unit.given import registered

LIBRARY = load_library()
TODAY = date(2026, 12, 8)
FACTORY = registered()


def factory(**changes: Any) -> FactoryRecord:
    record = {
        "source_id": "KH-F-1",
        "name": "Mekong Garments",
        "country": "KH",
        "address": "Street 2004, Phnom Penh",
        "registered_on": "2003-03-05",
        "workforce": [
            {"year": 2002, "women": 500, "men": 100},
            {"year": 2003, "women": 800, "men": 200},
            {"year": 2004, "women": 800, "men": 200},
            {"year": 2005, "women": 950, "men": 240},
        ],
    }
    return FactoryRecord.model_validate({**record, **changes})


def assessment(day: date = date(2004, 6, 2), **changes: Any) -> AssessmentRecord:
    catalogue = LIBRARY.resolve(LIBRARY.version_in_force(day), "KH")
    assert catalogue is not None
    record = {
        "source_id": "KH-F-1-A1",
        "factory": "KH-F-1",
        "cycle": 1,
        "assessed_on": day.isoformat(),
        "report_date": date(day.year, day.month, 28).isoformat(),
        "findings": [
            {
                "question_id": entry.question.id,
                "compliant": entry.question.id != "OSH-EMP-01",
                "evidence": "exit locked" if entry.question.id == "OSH-EMP-01" else "",
            }
            for entry in catalogue.questions()
        ],
    }
    return AssessmentRecord.model_validate({**record, **changes})


def decided(record: AssessmentRecord) -> Any:
    catalogue = catalogue_for(record, "KH", LIBRARY)
    return assessment_history(
        record, assessment_id="a-1", factory=FACTORY, catalogue=catalogue, by="admin", today=TODAY
    )


def rejections(error: pytest.ExceptionInfo[Rejected]) -> list[str]:
    return [rejection.field for rejection in error.value.rejections]


class TestFactoryHistory:
    def test_registered_with_that_years_workforce_then_updated_each_january(self) -> None:
        history = factory_history(factory(), factory_id="f-1", today=TODAY)
        assert [step.on for step in history.steps] == [date(2003, 3, 5), date(2005, 1, 1)]
        registration, update = history.steps[0].events[0], history.steps[1].events[0]
        assert isinstance(registration, FactoryRegistered)
        assert (registration.workforce.women, registration.workforce.men) == (800, 200)
        # 2004's workforce is 2003's: nothing changed, nothing is recorded
        assert isinstance(update, FactoryUpdated) and update.workforce.women == 950
        assert history.state.workforce.women == 950

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"country": "XX"}, "country"),
            ({"sector_isic": "0400"}, "sector_isic"),
            ({"os_id": "BD2019257Q2JMGF"}, "os_id"),  # a Bangladeshi facility's
            ({"os_id": "KH2019257Q2JMGF"}, "os_id"),  # a wrong check character
            ({"name": "Tab\tGarments"}, "name"),
            ({"registered_on": "2099-03-05"}, "registered_on"),
        ],
    )
    def test_refuses_what_the_live_api_refuses(self, changes: dict[str, Any], field: str) -> None:
        with pytest.raises(Rejected) as error:
            factory_history(factory(**changes), factory_id="f-1", today=TODAY)
        assert rejections(error) == [field]


class TestAssessmentHistory:
    def test_the_live_rules_events_each_on_its_day(self) -> None:
        record = assessment(
            corrections=[
                {
                    "question_id": "OSH-EMP-02",
                    "corrected_on": "2004-08-01",
                    "compliant": False,
                    "reason": "blocked exit on the photos",
                }
            ],
            responses=[
                {"question_id": "OSH-EMP-01", "responded_on": "2004-07-10", "text": "fixed"},
                {
                    "question_id": "OSH-EMP-01",
                    "responded_on": "2004-09-01",
                    "text": "it was open",
                    "disputes": True,
                },
            ],
        )
        history = decided(record)
        days = [step.on for step in history.steps]
        assert days == [
            date(2004, 6, 2),
            date(2004, 6, 28),
            date(2004, 7, 10),
            date(2004, 8, 1),
            date(2004, 9, 1),
        ]
        opening, completion, response, correction, dispute = (s.events for s in history.steps)
        scheduled = opening[0]
        assert isinstance(scheduled, AssessmentScheduled)
        assert (scheduled.cycle, scheduled.catalogue_version, scheduled.scheduled_for) == (
            1,
            "2001.1",
            date(2004, 6, 2),
        )
        assert scheduled.assessors == IMPORTED_ASSESSORS
        assert all(isinstance(event, FindingRecorded) for event in opening[1:])
        assert len(opening) == 1 + len(record.findings)
        assert isinstance(completion[0], AssessmentCompleted)
        assert completion[0].report_date == date(2004, 6, 28)
        assert [type(event) for event in completion[1:]] == [NonComplianceFound]
        assert [type(event) for event in correction] == [FindingCorrected, NonComplianceFound]
        assert isinstance(response[0], FactoryResponded)
        assert isinstance(dispute[0], FindingDisputed) and dispute[0].reason == "it was open"
        assert history.state == ASSESSMENT.fold(e for step in history.steps for e in step.events)

    def test_the_same_events_as_the_live_commands(self) -> None:
        record = assessment()
        history = decided(record)
        catalogue = catalogue_for(record, "KH", LIBRARY)
        live = rules.schedule_assessment(
            None,
            assessment_id="a-1",
            factory=FACTORY,
            cycle=1,
            scheduled_for=record.assessed_on,
            assessors=IMPORTED_ASSESSORS,
            catalogue=catalogue,
        )
        state = ASSESSMENT.fold(live)
        for finding in record.findings:
            assert state is not None
            result = "compliant" if finding.compliant else "non_compliant"
            events = rules.record_finding(
                state,
                catalogue,
                question_id=finding.question_id,
                facts=FindingFacts(result=result, evidence=finding.evidence),
                recorded_by="admin",
            )
            state = ASSESSMENT.fold(events, state)
            live += events
        assert state is not None
        live += rules.complete_assessment(
            state, catalogue, completed_by="admin", report_date=record.report_date
        )
        assert [event for step in history.steps for event in step.events] == live

    def test_a_question_not_in_the_catalogue_of_its_day(self) -> None:
        record = assessment()
        findings = [
            *record.model_dump()["findings"],
            {"question_id": "OSH-CHE-01", "compliant": True, "evidence": ""},
        ]
        with pytest.raises(Rejected) as error:
            decided(assessment(findings=findings))
        assert error.value.rejections[0].reason == "not in catalogue 2001.1"
        assert rejections(error) == [f"findings.{len(findings) - 1}.question_id"]

    def test_every_critical_question_answered_and_evidence_for_a_non_compliance(self) -> None:
        record = assessment()
        findings = [f for f in record.model_dump()["findings"] if f["question_id"] != "CHL-CHI-01"]
        findings[0] = {**findings[0], "compliant": False, "evidence": " "}
        with pytest.raises(Rejected) as error:
            decided(assessment(findings=findings))
        assert rejections(error) == ["findings.0.evidence", "findings"]
        assert error.value.rejections[1].reason.endswith("unanswered: CHL-CHI-01")

    def test_a_correction_that_changes_nothing(self) -> None:
        correction = {
            "question_id": "OSH-EMP-02",
            "corrected_on": "2004-08-01",
            "compliant": True,
            "reason": "checked again",
        }
        with pytest.raises(Rejected) as error:
            decided(assessment(corrections=[correction]))
        assert rejections(error) == ["corrections.0"]

    def test_a_report_in_the_future(self) -> None:
        with pytest.raises(Rejected) as error:
            decided(assessment(date(2026, 12, 1)))
        assert rejections(error) == ["report_date"]


class TestCatalogueOfARecord:
    def test_the_one_in_force_on_the_visit_else_the_one_named(self) -> None:
        assert catalogue_for(assessment(date(2008, 1, 1)), "KH", LIBRARY).version == "2008.1"
        named = assessment(date(2009, 5, 5), catalogue_version="2001.1")
        chosen = catalogue_for(named, "KH", LIBRARY)
        assert (chosen.version, chosen.country) == ("2001.1", "KH")

    @pytest.mark.parametrize(
        ("day", "version", "field"),
        [
            (date(2000, 12, 1), None, "assessed_on"),
            (date(2009, 5, 5), "2025.1", "catalogue_version"),
            (date(2009, 5, 5), "2009.1", "catalogue_version"),
        ],
    )
    def test_refused(self, day: date, version: str | None, field: str) -> None:
        record = assessment(date(2009, 5, 5)).model_copy(
            update={"assessed_on": day, "catalogue_version": version}
        )
        with pytest.raises(Rejected) as error:
            catalogue_for(record, "KH", LIBRARY)
        assert rejections(error) == [field]


class TestCycles:
    def test_a_cycle_is_the_factorys_once_and_follows_the_visits(self) -> None:
        known = [(1, date(2003, 6, 2)), (3, date(2008, 9, 1))]
        assert cycle_conflict(2, date(2005, 6, 6), known) is None
        assert cycle_conflict(4, date(2009, 6, 6), known) is None
        assert cycle_conflict(3, date(2009, 6, 6), known) is not None
        assert cycle_conflict(2, date(2009, 6, 6), known) is not None
        assert cycle_conflict(4, date(2002, 6, 6), known) is not None

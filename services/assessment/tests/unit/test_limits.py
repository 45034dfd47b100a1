"""Collections that grow with use are bounded: the next one is refused and nothing is recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from libs.domain.envelope import DomainEvent
from services.assessment.compliance_catalogue import load_library
from services.assessment.domain import assessment as rules
from services.assessment.domain import assessment_events as internal
from services.assessment.domain.assessment_state import ASSESSMENT, Assessment, Finding
from services.assessment.errors import LimitReached

_CATALOGUE = load_library().resolve("2025.1", "KH")
assert _CATALOGUE is not None
CATALOGUE = _CATALOGUE
QUESTION = CATALOGUE.critical_question_ids[0]


def given_assessment(**changes: object) -> Assessment:
    assessment = Assessment(
        assessment_id="a-1",
        factory_id="f-1",
        cycle=1,
        country="KH",
        catalogue_version=CATALOGUE.version,
        scheduled_for=date(2025, 3, 3),
        assessors=("a1",),
    )
    return replace(assessment, **changes)  # type: ignore[arg-type]


FACTS = internal.FindingFacts(result="non_compliant", evidence="seen")
FINDING = Finding(QUESTION, FACTS, "a1")


class TestFindingLimits:
    def test_recording_stops_at_the_limit(self) -> None:
        full = given_assessment(recordings={QUESTION: rules.MAX_RECORDINGS_PER_FINDING})
        with pytest.raises(LimitReached):
            rules.record_finding(
                full, CATALOGUE, question_id=QUESTION, facts=FACTS, recorded_by="a1"
            )
        almost = given_assessment(recordings={QUESTION: rules.MAX_RECORDINGS_PER_FINDING - 1})
        assert rules.record_finding(
            almost, CATALOGUE, question_id=QUESTION, facts=FACTS, recorded_by="a1"
        )

    def test_responses_stop_at_the_limit(self) -> None:
        full = given_assessment(
            status="completed",
            report_date=date(2025, 3, 5),
            findings={QUESTION: FINDING},
            responses={QUESTION: rules.MAX_RESPONSES_PER_FINDING},
        )
        with pytest.raises(LimitReached) as refused:
            rules.respond_to_finding(full, question_id=QUESTION, responded_by="f", text="ok")
        assert refused.value.extensions["limit"] == rules.MAX_RESPONSES_PER_FINDING

    def test_corrections_stop_at_the_limit(self) -> None:
        full = given_assessment(
            status="completed",
            report_date=date(2025, 3, 5),
            findings={QUESTION: FINDING},
            corrections={QUESTION: rules.MAX_CORRECTIONS_PER_FINDING},
        )
        with pytest.raises(LimitReached):
            rules.correct_finding(
                full,
                CATALOGUE,
                question_id=QUESTION,
                facts=internal.FindingFacts(result="compliant"),
                corrected_by="a1",
                reason="typo",
            )

    def test_folding_counts_recordings_and_responses(self) -> None:
        events: list[DomainEvent] = [
            internal.AssessmentScheduled(
                assessment_id="a-1",
                factory_id="f-1",
                cycle=1,
                scheduled_for=date(2025, 3, 3),
                assessors=("a1",),
                country="KH",
                catalogue_version=CATALOGUE.version,
            ),
            *[
                internal.FindingRecorded(
                    assessment_id="a-1",
                    factory_id="f-1",
                    question_id=QUESTION,
                    result="compliant",
                    evidence="",
                    evidence_refs=(),
                    recorded_by="a1",
                )
                for _ in range(3)
            ],
            internal.FactoryResponded(
                assessment_id="a-1",
                factory_id="f-1",
                question_id=QUESTION,
                responded_by="f",
                text="t",
            ),
        ]
        folded = ASSESSMENT.fold(events)
        assert folded is not None
        assert folded.recordings == {QUESTION: 3}
        assert folded.responses == {QUESTION: 1}

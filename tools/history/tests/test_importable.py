"""Every generated record keeps the owning service's rules (its own constants, read from its pure
domain), so the bundle imports whole: answers of the catalogue in force, items of standing
non-compliances with histories the remediation transitions allow, reliances on earlier reports
within their grants, sessions of seeded courses that fit their dates, balanced committees, and
nothing dated outside the programme's years."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest

from libs.domain.history.advisory import AdvisoryVisitRecord, TrainingSessionRecord
from libs.domain.history.assessment import AssessmentRecord, FactoryRecord
from libs.domain.history.bundle import Record, imported_id, kind
from libs.domain.history.buyer_sharing import BuyerRecord, GrantRecord, RelianceRecord
from libs.domain.history.remediation import CommitteeRecord, PlanItemRecord
from services.advisory.domain.catalogue import SEEDED_COURSES
from services.advisory.domain.session_rules import MAX_SPAN_DAYS
from services.assessment.compliance_catalogue import load_library
from services.assessment.domain import history as assessment_import
from services.assessment.ids import normalise_os_id, validate_isic
from services.buyer_sharing.domain.sharing import MAX_RELIANCE_DAYS
from services.remediation.domain.plan_events import TRANSITIONS, ItemStatus
from services.remediation.domain.policy import DueDatePolicy
from tools.history.generate import Generated
from tools.history.reference import Catalogues

R = TypeVar("R", bound=Record)


def records(directory: Path, name: str, model: type[R]) -> list[R]:
    assert kind(name).record is model
    lines = (directory / kind(name).file).read_bytes().splitlines()
    return [model.model_validate_json(line) for line in lines]


class Bundle:
    def __init__(self, directory: Path) -> None:
        self.factories = {r.source_id: r for r in records(directory, "factories", FactoryRecord)}
        self.assessments = {
            r.source_id: r for r in records(directory, "assessments", AssessmentRecord)
        }
        self.buyers = {r.source_id: r for r in records(directory, "buyers", BuyerRecord)}
        self.committees = records(directory, "committees", CommitteeRecord)
        self.plan_items = records(directory, "plan-items", PlanItemRecord)
        self.grants = records(directory, "grants", GrantRecord)
        self.reliances = records(directory, "reliances", RelianceRecord)
        self.sessions = records(directory, "training-sessions", TrainingSessionRecord)
        self.visits = records(directory, "advisory-visits", AdvisoryVisitRecord)


@pytest.fixture(scope="module")
def bundle(history: tuple[Path, Generated]) -> Bundle:
    return Bundle(history[0])


def corrected(assessment: AssessmentRecord) -> dict[str, bool]:
    compliant = {finding.question_id: finding.compliant for finding in assessment.findings}
    for correction in sorted(assessment.corrections, key=lambda entry: entry.corrected_on):
        compliant[correction.question_id] = correction.compliant
    return compliant


def test_factories_are_registered_as_the_assessment_service_validates_them(
    bundle: Bundle,
) -> None:
    os_ids = [factory.os_id for factory in bundle.factories.values() if factory.os_id]
    assert len(os_ids) == len(set(os_ids)) > 100
    for factory in bundle.factories.values():
        assert factory.country == "KH"
        validate_isic(factory.sector_isic)
        if factory.os_id:
            assert normalise_os_id(factory.os_id) == factory.os_id
            assert factory.os_id.startswith("KH")
        assert factory.workforce[0].year == factory.registered_on.year
        years = [entry.year for entry in factory.workforce]
        assert years == list(range(years[0], years[-1] + 1))


def test_assessments_answer_every_question_of_the_catalogue_in_force(bundle: Bundle) -> None:
    catalogues = Catalogues("KH")
    versions = set()
    cycles: dict[str, list[tuple[int, date]]] = defaultdict(list)
    for assessment in bundle.assessments.values():
        factory = bundle.factories[assessment.factory]
        assert assessment.catalogue_version == catalogues.version_on(assessment.assessed_on)
        versions.add(assessment.catalogue_version)
        questions = {question.id for question in catalogues.questions(assessment.catalogue_version)}
        assert [finding.question_id for finding in assessment.findings] == sorted(
            questions, key=[q.id for q in catalogues.questions(assessment.catalogue_version)].index
        )
        for finding in assessment.findings:
            assert finding.compliant or finding.evidence.strip()
        for correction in assessment.corrections:
            finding = next(
                f for f in assessment.findings if f.question_id == correction.question_id
            )
            assert correction.compliant != finding.compliant  # a correction changes something
            assert correction.compliant or finding.evidence.strip()
        assert factory.registered_on < assessment.assessed_on <= assessment.report_date
        cycles[assessment.factory].append((assessment.cycle, assessment.assessed_on))
    for visits in cycles.values():
        assert [cycle for cycle, _ in visits] == list(range(1, len(visits) + 1))
        assert [day for _, day in visits] == sorted(day for _, day in visits)
    assert len(versions) > 1, "the catalogue changed over the years"


def test_a_plan_item_for_each_standing_non_compliance_with_an_allowed_history(
    bundle: Bundle,
) -> None:
    policy = DueDatePolicy()
    catalogues = Catalogues("KH")
    expected = {
        (assessment.source_id, question)
        for assessment in bundle.assessments.values()
        for question, compliant in corrected(assessment).items()
        if not compliant
    }
    assert {(item.assessment, item.question_id) for item in bundle.plan_items} == expected
    assert len(bundle.plan_items) == len(expected)
    final: dict[str, int] = defaultdict(int)
    for item in bundle.plan_items:
        assessment = bundle.assessments[item.assessment]
        question = next(
            q
            for q in catalogues.questions(assessment.catalogue_version or "")
            if q.id == item.question_id
        )
        if item.due_date is not None:
            days = policy.days_for(
                critical=question.critical, zero_tolerance=question.zero_tolerance
            )
            assert assessment.report_date <= item.due_date
            assert (item.due_date - assessment.report_date).days <= days
        status = ItemStatus.OPEN
        for change in item.status_history:
            to = ItemStatus(change.status)
            assert TRANSITIONS.get((status, to)) == change.by, (item.source_id, status, to)
            if to == ItemStatus.OPEN:
                assert change.reason
            if to == ItemStatus.DONE:
                assert item.root_cause and item.planned_action and item.responsible_person
            assert change.on > assessment.report_date
            status = to
        final[status.value] += 1
    total = sum(final.values())
    # most done or verified (not verified where the next assessment finds it again)
    assert final["verified"] + final["done"] > 0.75 * total, final
    assert final["verified"] > 0.5 * total, final
    assert 0 < final["open"] < 0.1 * total, final
    assert 0 < final["in_progress"] < 0.15 * total, final


def test_grants_and_reliances_keep_buyer_sharing_rules(bundle: Bundle) -> None:
    grants: dict[tuple[str, str], GrantRecord] = {}
    for grant in bundle.grants:
        assert (grant.factory, grant.buyer) not in grants, "one grant per factory and buyer"
        grants[(grant.factory, grant.buyer)] = grant
        assert grant.buyer in bundle.buyers
        assert bundle.factories[grant.factory].registered_on <= grant.granted_on
        assert bundle.buyers[grant.buyer].joined_on <= grant.granted_on
        assert grant.ends_on is not None and grant.ends_on >= grant.granted_on
    revoked = [grant for grant in bundle.grants if grant.revoked_on]
    assert 0 < len(revoked) < 0.15 * len(bundle.grants)
    withdrawn = 0
    for reliance in bundle.reliances:
        assessment = bundle.assessments[reliance.assessment]
        grant = grants[(reliance.factory, reliance.buyer)]
        assert assessment.factory == reliance.factory
        assert assessment.report_date < reliance.declared_on
        assert (reliance.period_end - reliance.period_start).days <= MAX_RELIANCE_DAYS
        # declared while the grant is in force, within its period, never on a revoked grant
        assert grant.revoked_on is None
        assert grant.granted_on <= reliance.declared_on <= reliance.period_end
        assert grant.ends_on is not None and reliance.period_end <= grant.ends_on
        withdrawn += reliance.withdrawn_on is not None
    assert withdrawn > 0


def test_training_sessions_fit_the_seeded_courses(bundle: Bundle) -> None:
    for session in bundle.sessions:
        course = SEEDED_COURSES[session.course_code]
        span = (session.end_date - session.start_date).days + 1
        assert course.duration_days <= span <= MAX_SPAN_DAYS
        assert session.language in course.languages
        assert session.start_date.year >= 2004
        for factory in session.factories:
            assert bundle.factories[factory].registered_on <= session.start_date
        for attendee in session.attendees:
            assert attendee.role in {str(role) for role in course.audience_roles}
            assert 1 <= attendee.days_attended <= course.duration_days
    assert any(len(session.factories) > 1 for session in bundle.sessions), "open sessions"


def test_visits_and_committees(bundle: Bundle) -> None:
    for visit in bundle.visits:
        assert bundle.factories[visit.factory].registered_on <= visit.visited_on
    assessed = {assessment.factory for assessment in bundle.assessments.values()}
    for committee in bundle.committees:
        # remediation knows a factory once one of its assessments has reached it
        assert committee.factory in assessed
        sides = [member.side for member in committee.members]
        assert sides.count("management") == sides.count("worker") > 0
        days = [meeting.held_on for meeting in committee.meetings]
        assert days == sorted(set(days))
        assert bundle.factories[committee.factory].registered_on <= committee.established_on
    assert any(m.endorses_plan for c in bundle.committees for m in c.meetings)


def test_nothing_is_dated_outside_2001_to_2010(history: tuple[Path, Generated]) -> None:
    directory, generated = history
    first, last = "2001-01-01", "2010-12-31"
    for name in generated.records:
        text = (directory / kind(name).file).read_text(encoding="utf-8")
        days = _dates(text)
        assert days, name
        assert first <= min(days) and max(days) <= last, name


def _dates(text: str) -> list[str]:
    return re.findall(r'"(\d{4}-\d{2}-\d{2})"', text)


def test_factories_and_assessments_pass_the_assessment_services_own_import_rules(
    small_history: tuple[Path, Generated],
) -> None:
    """The assessment service's pure import (services/assessment/domain/history.py) decides
    every generated factory and assessment by its aggregates' rules without a rejection."""
    directory, generated = small_history
    library = load_library()
    today = date(2026, 12, 8)
    known = {}
    for factory in records(directory, "factories", FactoryRecord):
        factory_id = imported_id("factories", factory.source_id)
        known[factory.source_id] = (
            factory,
            assessment_import.factory_history(factory, factory_id=factory_id, today=today).state,
        )
    events = 0
    for assessment in records(directory, "assessments", AssessmentRecord):
        factory, state = known[assessment.factory]
        decided = assessment_import.assessment_history(
            assessment,
            assessment_id=imported_id("assessments", assessment.source_id),
            factory=state,
            catalogue=assessment_import.catalogue_for(assessment, factory.country, library),
            by="history-test",
            today=today,
        )
        events += decided.events
        assert decided.state.completed
    assert events > generated.counts.findings

"""What callers ask the advisory service to do (imperative names); built by the API layer from
request bodies already checked against the request rules, and by the reactions to upstream
events. Each carries the `Actor` it is done for: the domain decides who may."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.advisory.domain.actor import SYSTEM, Actor
from services.advisory.domain.course import CourseDetails
from services.advisory.domain.session_events import AttendeeLine, FactoryPart, ResponseLine
from services.advisory.domain.survey import SurveyDefinition


@dataclass(frozen=True)
class DefineCourse:
    code: str
    details: CourseDetails
    actor: Actor
    # the seeder: a course that exists is left as it is
    if_absent: bool = False


@dataclass(frozen=True)
class ReviseCourse:
    code: str
    details: CourseDetails
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class RetireCourse:
    code: str
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class PublishSurvey:
    survey_id: str
    course_code: str
    scale_points: int
    definition: SurveyDefinition
    actor: Actor


@dataclass(frozen=True)
class ReviseSurvey:
    survey_id: str
    definition: SurveyDefinition
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class ScheduleSession:
    session_id: str
    course_code: str
    factories: tuple[FactoryPart, ...]
    open_session: bool
    trainer: str | None
    start_date: date
    end_date: date
    capacity: int
    language: str
    survey_id: str | None
    actor: Actor


@dataclass(frozen=True)
class RescheduleSession:
    session_id: str
    actor: Actor
    trainer: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    capacity: int | None = None
    language: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class RecordAttendance:
    """A whole sign-in sheet: one append, all or nothing."""

    session_id: str
    attendees: tuple[AttendeeLine, ...]
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class RecordSurveyResponses:
    session_id: str
    responses: tuple[ResponseLine, ...]
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class DeliverSession:
    session_id: str
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class CancelSession:
    session_id: str
    reason: str
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class PlanVisit:
    visit_id: str
    factory_id: str
    planned_for: date
    purpose: str
    actor: Actor
    advisor: str | None = None
    description: str = ""


@dataclass(frozen=True)
class CompleteVisit:
    visit_id: str
    visited_on: date
    duration_days: float
    notes: str
    actor: Actor
    plan_item_ids: tuple[str, ...] = ()
    committee_meeting_id: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class CancelVisit:
    visit_id: str
    reason: str
    actor: Actor
    expected_version: int | None = None


@dataclass(frozen=True)
class RecordFactory:
    """From the assessment service's FactoryRegistered / FactoryUpdated."""

    factory_id: str
    name: str
    country: str
    upstream_version: int
    actor: Actor = field(default=SYSTEM)


@dataclass(frozen=True)
class RecordAssessmentCycle:
    """From the assessment service's AssessmentCompleted."""

    factory_id: str
    cycle: int
    report_date: date
    actor: Actor = field(default=SYSTEM)

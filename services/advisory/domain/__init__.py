"""The advisory service's pure domain: one module per aggregate (course, survey, training
session, advisory visit, and its record of each factory), the rules of the public figures and of
survey statistics, and the seeded catalogue. `make_registry()` holds the internal events."""

from __future__ import annotations

from libs.domain.envelope import EventRegistry
from services.advisory.domain import course, factory, session_events, survey, visit

SERVICE = "advisory"


def make_registry() -> EventRegistry:
    """The internal events, under this service's name."""
    registry = EventRegistry(SERVICE)
    registry.register_all(
        course.CourseDefined,
        course.CourseRevised,
        course.CourseRetired,
        survey.SurveyPublished,
        survey.SurveyRevised,
        session_events.SessionScheduled,
        session_events.SessionRescheduled,
        session_events.AttendanceRecorded,
        session_events.SurveyResponsesRecorded,
        session_events.SessionDelivered,
        session_events.SessionCancelled,
        visit.VisitPlanned,
        visit.VisitCompleted,
        visit.VisitCancelled,
        factory.FactoryRecorded,
        factory.AssessmentCycleRecorded,
        factory.TrainingReceived,
    )
    return registry

"""The advisory service, declared: its settings, events, public contract, dependencies, command
handlers, upstream subscription, the course seeder, routers, own problems, migrations and
rebuild, which `libs.servicekit.service` turns into the app, the event runtime and the command
line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from libs.domain.contract import PublicContract
from libs.domain.envelope import EventRegistry
from libs.servicekit.app import Lifecycle
from libs.servicekit.problems import ProblemRegistry
from libs.servicekit.service import ServiceDefinition, Wiring
from services.advisory import errors, projections
from services.advisory.api import attendance, courses, figures, sessions, surveys, visits
from services.advisory.consumers import subscriptions
from services.advisory.contract import CONTRACT
from services.advisory.domain import make_registry
from services.advisory.domain.figures import Minimums
from services.advisory.handlers import COMMAND_HANDLERS
from services.advisory.handlers.dependencies import (
    Dependencies,
    Publication,
    make_dependencies,
    utcnow,
)
from services.advisory.imports import IMPORTS
from services.advisory.queries.answers import ReadModelAnswers
from services.advisory.rebuild import rebuild
from services.advisory.seeding import CourseSeeder
from services.advisory.settings import AdvisorySettings
from services.advisory.tables import SCHEMA
from services.advisory.upstream import register_upstream

# only the errors whose status or problem type is not their base's (libs.servicekit.problems)
PROBLEMS = (
    ProblemRegistry()
    .add(errors.UnknownFactory, 404, "Factory not found", "factory-not-found")
    .add(errors.UnknownCourse, 422, "Unknown course", "unknown-course")
    .add(errors.UnknownSurvey, 422, "Unknown survey", "unknown-survey")
    .add(errors.RetiredCourse, 422, "Course retired", "course-retired")
    .add(errors.NotResponsible, 403, "Not responsible", "not-responsible")
    .add(errors.DateOutOfRange, 422, "Date out of range", "date-out-of-range")
    .add(errors.InvalidSession, 422, "Invalid session", "invalid-session")
    .add(errors.OverCapacity, 409, "Over capacity", "over-capacity")
    .add(errors.DuplicateAttendance, 409, "Duplicate attendance", "duplicate-attendance")
    .add(
        errors.ParticipantOfAnotherFactory,
        422,
        "Participant of another factory",
        "participant-of-another-factory",
    )
    .add(errors.ParticipantMismatch, 422, "Participant mismatch", "participant-mismatch")
    .add(errors.NotAnAttendee, 422, "Not an attendee", "not-an-attendee")
    .add(errors.DuplicateResponse, 409, "Duplicate response", "duplicate-response")
    .add(errors.InvalidAnswers, 422, "Invalid answers", "invalid-answers")
    .add(errors.NoAttendance, 422, "No attendance", "no-attendance")
    .add(errors.SessionClosed, 409, "Session closed", "session-closed")
    .add(errors.AttendanceAlreadyRecorded, 409, "Attendance recorded", "attendance-recorded")
    .add(errors.VisitClosed, 409, "Visit closed", "visit-closed")
)


def events() -> EventRegistry:
    """Internal events under our name, upstream copies under their producer's."""
    registry = make_registry()
    register_upstream(registry)
    return registry


def contract(_settings: AdvisorySettings) -> PublicContract:
    return CONTRACT


def dependencies(wiring: Wiring[AdvisorySettings]) -> Dependencies:
    """Built once per app: the repositories with their projections on the runtime's store, the
    answers read back for a command, the publication rules (test seam: `clock=`)."""
    settings = wiring.settings
    return make_dependencies(
        wiring.runtime.store,
        projections={
            "course": projections.project_course,
            "survey": projections.project_survey,
            "session": projections.project_session,
            "visit": projections.project_visit,
            "factory": projections.project_factory,
        },
        answers=ReadModelAnswers(),
        clock=wiring.overrides.get("clock", utcnow),
        publication=Publication(
            figures=Minimums(
                participants=settings.figures_min_participants,
                factories=settings.figures_min_factories,
            ),
            survey_min_pairs=settings.survey_min_pairs,
            figures_max_age_seconds=settings.figures_max_age_seconds,
        ),
    )


def components(deps: Dependencies, wiring: Wiring[AdvisorySettings]) -> Sequence[Lifecycle]:
    """The course seeder, under the runtime's supervisor (unless seeding is switched off)."""
    if not wiring.settings.seed_courses:
        return ()
    return [CourseSeeder(deps, wiring.runtime.supervisor)]


SERVICE: ServiceDefinition[AdvisorySettings, Dependencies] = ServiceDefinition(
    name="advisory",
    title="Advisory and training service",
    description="The course catalogue, training sessions with attendance and outcome surveys, "
    "enterprise advisors' visits, and the programme's training figures.",
    settings=AdvisorySettings,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    events=events,
    contract=contract,
    dependencies=dependencies,
    commands=COMMAND_HANDLERS,
    # in this order: it is the order of the OpenAPI document's paths (the public figures before
    # a session's id, which would take `figures` too)
    routers=[
        courses.router,
        surveys.router,
        figures.router,
        sessions.router,
        attendance.router,
        visits.router,
    ],
    problems=PROBLEMS,
    subscriptions=subscriptions,
    components=components,
    rebuild=rebuild,
    imports=IMPORTS,
    openapi_tags=[
        {"name": "courses", "description": "The training catalogue."},
        {"name": "surveys", "description": "Outcome-survey instruments and their results."},
        {"name": "programme-figures", "description": "Public training figures."},
        {"name": "training-sessions", "description": "Sessions, attendance and survey forms."},
        {"name": "advisory-visits", "description": "Enterprise advisors' visits."},
        {"name": "imports", "description": "A programme's history: sessions and visits (admin)."},
    ],
)

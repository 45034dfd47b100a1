"""Composition root of the assessment service: settings, catalogue, engine, event runtime and the
FastAPI app. Nothing connects at import or construction; the lifespan starts the runtime."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from libs.events import ConcurrencyConflict
from libs.events.runtime import EventRuntime
from libs.servicekit import ProblemError, create_app, database_check
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.operations import dead_letter_router
from libs.servicekit.problems import problem_response
from services.assessment import domain
from services.assessment.api import ROUTERS
from services.assessment.compliance_catalogue import load_library
from services.assessment.contract import CONTRACT
from services.assessment.handlers import Dependencies
from services.assessment.projections import SCHEMA
from services.assessment.settings import AssessmentSettings

_DOMAIN_PROBLEMS: list[tuple[type[domain.DomainError], int, str, str]] = [
    (domain.NotFoundError, 404, "Not Found", "not-found"),
    (domain.VersionMismatch, 412, "Precondition Failed", "precondition-failed"),
    (
        domain.CriticalQuestionsUnanswered,
        422,
        "Critical questions unanswered",
        "critical-questions-unanswered",
    ),
    (domain.UnknownQuestion, 422, "Unknown question", "unknown-question"),
    (domain.InvalidCommand, 422, "Unprocessable Entity", "unprocessable-entity"),
    (domain.AssessmentAlreadyCompleted, 409, "Assessment completed", "assessment-completed"),
    (domain.AssessmentNotCompleted, 409, "Assessment not completed", "assessment-not-completed"),
    (domain.OsIdTaken, 409, "OS ID taken", "os-id-taken"),
    (domain.StateConflict, 409, "Conflict", "conflict"),
]


async def _domain_error(request: Request, exc: Exception) -> Response:
    """Domain errors carry extension members (e.g. the unanswered questions), so they are
    rendered here rather than through the plain exception map."""
    assert isinstance(exc, domain.DomainError)
    for error_type, status, title, slug in _DOMAIN_PROBLEMS:
        if isinstance(exc, error_type):
            problem = ProblemError(
                exc.detail, status=status, title=title, type_slug=slug, extensions=exc.extensions
            )
            return problem_response(problem, instance=request.url.path)
    problem = ProblemError(exc.detail, status=422, extensions=exc.extensions)
    return problem_response(problem, instance=request.url.path)


def create_service_app(settings: AssessmentSettings | None = None) -> FastAPI:
    settings = settings or AssessmentSettings()
    catalogues = load_library(settings.catalogue_directory)  # refuses to start on a bad catalogue
    engine = create_engine(settings)
    runtime = EventRuntime(
        engine=engine,
        database_url=settings.database_url,
        schema=SCHEMA,
        registry=domain.make_registry(),
        public=CONTRACT,
        nats_url=settings.nats_url,
        subject_prefix=settings.subject_prefix,
        stream_replicas=settings.stream_replicas,
        relay_enabled=settings.relay_enabled,
    )
    app = create_app(
        settings=settings,
        title="Assessment service",
        description="Factories, the compliance catalogue, assessments and their findings.",
        version="1.0.0",
        routers=[*ROUTERS, dead_letter_router],
        lifecycle=[EngineLifecycle(engine), runtime],
        readiness_checks={
            "database": database_check(engine),
            "nats": runtime.check_nats,
            "events": runtime.check_progress,
        },
        db_engine=engine,
        db_schema=SCHEMA,
        exception_map={
            ConcurrencyConflict: (409, "Concurrent modification", "concurrency-conflict")
        },
    )
    app.add_exception_handler(domain.DomainError, _domain_error)
    app.state.dependencies = Dependencies(store=runtime.store, catalogues=catalogues)
    app.state.runtime = runtime
    return app

"""Composition root of the assessment service: settings, catalogue, engine, event runtime and the
FastAPI app. Nothing connects at import or construction; the lifespan starts the runtime."""

from __future__ import annotations

from fastapi import FastAPI

from libs.events import ConcurrencyConflict
from libs.events.runtime import EventRuntime
from libs.servicekit import create_app, database_check
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.operations import dead_letter_router
from libs.servicekit.problems import ProblemRegistry
from services.assessment import domain
from services.assessment.api import ROUTERS
from services.assessment.compliance_catalogue import load_library
from services.assessment.contract import CONTRACT
from services.assessment.handlers import Dependencies
from services.assessment.projections import SCHEMA
from services.assessment.settings import AssessmentSettings

# Domain errors carry their detail and extension members (e.g. the unanswered questions).
PROBLEMS = (
    ProblemRegistry()
    .add(domain.DomainError, 422, "Unprocessable Entity", "unprocessable-entity")
    .add(domain.NotFoundError, 404, "Not Found", "not-found")
    .add(domain.VersionMismatch, 412, "Precondition Failed", "precondition-failed")
    .add(
        domain.CriticalQuestionsUnanswered,
        422,
        "Critical questions unanswered",
        "critical-questions-unanswered",
    )
    .add(domain.UnknownQuestion, 422, "Unknown question", "unknown-question")
    .add(domain.InvalidCommand, 422, "Unprocessable Entity", "unprocessable-entity")
    .add(domain.AssessmentAlreadyCompleted, 409, "Assessment completed", "assessment-completed")
    .add(domain.AssessmentNotCompleted, 409, "Assessment not completed", "assessment-not-completed")
    .add(domain.OsIdTaken, 409, "OS ID taken", "os-id-taken")
    .add(domain.StateConflict, 409, "Conflict", "conflict")
    .add(ConcurrencyConflict, 409, "Concurrent modification", "concurrency-conflict")
)


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
        problems=PROBLEMS,
    )
    app.state.dependencies = Dependencies(store=runtime.store, catalogues=catalogues)
    app.state.runtime = runtime
    return app

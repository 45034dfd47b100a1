"""Composition root of the assessment service: settings, catalogue, engine, event runtime (store
with the public contract, relay), repositories with their projections, the command runner over
`handlers.COMMAND_HANDLERS`, the problem registry and the FastAPI app. Nothing connects at import
or construction; the lifespan starts the runtime."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from libs.domain.aggregate import Change, VersionMismatch
from libs.events.runtime import EventRuntime
from libs.events.store import ConcurrencyConflict
from libs.servicekit.app import create_app, database_check
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.operations import dead_letter_router
from libs.servicekit.problems import ProblemRegistry
from services.assessment import errors, queries
from services.assessment.api import ROUTERS, RunCommand
from services.assessment.compliance_catalogue import load_library
from services.assessment.contract import CONTRACT
from services.assessment.domain import make_registry
from services.assessment.handlers import COMMAND_HANDLERS, Dependencies, make_dependencies
from services.assessment.projections import assessment_projector, project_factory
from services.assessment.queries import ReadModelLookups
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA

# Domain errors carry their detail and extension members (e.g. the unanswered questions).
PROBLEMS = (
    ProblemRegistry()
    .add(errors.DomainError, 422, "Unprocessable Entity", "unprocessable-entity")
    .add(errors.NotFoundError, 404, "Not Found", "not-found")
    .add(
        VersionMismatch,
        412,
        "Precondition Failed",
        "precondition-failed",
        extensions=lambda error: {"current_version": getattr(error, "actual", None)},
    )
    .add(
        errors.CriticalQuestionsUnanswered,
        422,
        "Critical questions unanswered",
        "critical-questions-unanswered",
    )
    .add(errors.UnknownQuestion, 422, "Unknown question", "unknown-question")
    .add(errors.InvalidCommand, 422, "Unprocessable Entity", "unprocessable-entity")
    .add(errors.AssessmentAlreadyCompleted, 409, "Assessment completed", "assessment-completed")
    .add(errors.AssessmentNotCompleted, 409, "Assessment not completed", "assessment-not-completed")
    .add(errors.OsIdTaken, 409, "OS ID taken", "os-id-taken")
    .add(errors.StateConflict, 409, "Conflict", "conflict")
    .add(ConcurrencyConflict, 409, "Concurrent modification", "concurrency-conflict")
)


def command_runner(deps: Dependencies) -> RunCommand:
    """Runs each command through the handler registered for its type."""

    async def run(command: object) -> Change[Any]:
        return await COMMAND_HANDLERS[type(command)](command, deps)

    return run


def create_service_app(settings: AssessmentSettings | None = None) -> FastAPI:
    settings = settings or AssessmentSettings()
    catalogues = load_library(settings.catalogue_directory)  # refuses to start on a bad catalogue
    engine = create_engine(settings)
    runtime = EventRuntime(
        engine=engine,
        database_url=settings.database_url,
        schema=SCHEMA,
        registry=make_registry(),
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
    lookups = ReadModelLookups()
    dependencies = make_dependencies(
        runtime.store,
        catalogues,
        lookups,
        project_factory=project_factory,
        project_assessment=assessment_projector(catalogues),
        assessment_answer=lookups.assessment_detail,
    )
    app.state.dependencies = dependencies
    app.state.run_command = command_runner(dependencies)
    app.state.store = runtime.store
    app.state.catalogues = catalogues
    app.state.synthesis_cache = queries.SynthesisCache()
    app.state.runtime = runtime
    return app

"""The assessment service, declared: its settings, events, public contract, dependencies, command
handlers, routers, own problems, migrations, rebuild and the history kinds it imports, which `libs.servicekit.service` turns into
the app, the event runtime and the command line."""

from __future__ import annotations

from pathlib import Path

from libs.domain.contract import PublicContract
from libs.servicekit.app import Lifecycle
from libs.servicekit.problems import ProblemRegistry
from libs.servicekit.service import ServiceDefinition, Wiring
from services.assessment import errors
from services.assessment.api import (
    assessments,
    catalogue,
    corrections,
    credentials,
    factories,
    findings,
    reports,
)
from services.assessment.compliance_catalogue import load_library
from services.assessment.contract import CONTRACT
from services.assessment.credentials.issuing import CredentialIssuer, base_url_of
from services.assessment.credentials.keys import IssuerKeys
from services.assessment.domain import make_registry
from services.assessment.handlers import COMMAND_HANDLERS
from services.assessment.handlers.dependencies import (
    Dependencies,
    Reads,
    make_dependencies,
    utcnow,
)
from services.assessment.imports import IMPORTS
from services.assessment.projections import assessment_projector, project_factory
from services.assessment.queries.lookups import ReadModelAnswers, ReadModelLookups
from services.assessment.rebuild import rebuild
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA

# only the errors whose status or problem type is not their base's (libs.servicekit.problems)
PROBLEMS = (
    ProblemRegistry()
    .add(
        errors.CriticalQuestionsUnanswered,
        422,
        "Critical questions unanswered",
        "critical-questions-unanswered",
    )
    .add(errors.UnknownQuestion, 422, "Unknown question", "unknown-question")
    .add(errors.AssessmentAlreadyCompleted, 409, "Assessment completed", "assessment-completed")
    .add(errors.AssessmentNotCompleted, 409, "Assessment not completed", "assessment-not-completed")
    .add(errors.OsIdTaken, 409, "OS ID taken", "os-id-taken")
    .add(
        errors.OutsideCountryProgramme,
        403,
        "Outside your country programmes",
        "outside-country-programme",
    )
)


def contract(_settings: AssessmentSettings) -> PublicContract:
    return CONTRACT


def credential_issuer(wiring: Wiring[AssessmentSettings]) -> CredentialIssuer:
    """The programme as the reports' issuer, with the configured keys (or, in development
    without them, the generated key its component loads before the service serves)."""
    settings = wiring.settings
    return CredentialIssuer(
        did=settings.credential_issuer,
        name=settings.credential_issuer_name,
        base_url=settings.credential_base_url or base_url_of(settings.credential_issuer),
        keys=IssuerKeys(settings.credential_ring(), wiring.engine),
    )


def dependencies(wiring: Wiring[AssessmentSettings]) -> Dependencies:
    """Built once per app: the catalogues (a bad catalogue stops the service before it serves),
    the repositories with their projections on the runtime's store, the read models' lookups and
    answers, the reports' issuer, and the routes' read side (test seam: `clock=`)."""
    catalogues = load_library(wiring.settings.catalogue_directory)
    store = wiring.runtime.store
    return make_dependencies(
        store,
        catalogues,
        ReadModelLookups(),
        project_factory=project_factory,
        project_assessment=assessment_projector(catalogues),
        answers=ReadModelAnswers(),
        clock=wiring.overrides.get("clock", utcnow),
        reads=Reads(store),
        credentials=credential_issuer(wiring),
    )


def components(deps: Dependencies, _wiring: Wiring[AssessmentSettings]) -> list[Lifecycle]:
    """The issuer's keys are loaded (in development: generated once) before the service serves."""
    return [deps.credentials.keys] if deps.credentials is not None else []


SERVICE: ServiceDefinition[AssessmentSettings, Dependencies] = ServiceDefinition(
    name="assessment",
    title="Assessment service",
    description="Factories, the compliance catalogue, assessments and their findings.",
    settings=AssessmentSettings,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    events=make_registry,
    contract=contract,
    dependencies=dependencies,
    commands=COMMAND_HANDLERS,
    components=components,
    # in this order: it is the order of the OpenAPI document's paths
    routers=[
        factories.router,
        catalogue.router,
        assessments.router,
        findings.router,
        corrections.router,
        reports.router,
        credentials.router,
        credentials.well_known,
    ],
    problems=PROBLEMS,
    rebuild=rebuild,
    imports=IMPORTS,
)

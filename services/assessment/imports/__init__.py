"""The kinds of a programme's history this service imports (libs/servicekit/imports.py serves
them as `POST /v1/imports/<kind>`): factories, then their completed assessments."""

from __future__ import annotations

from libs.domain.history.assessment import AssessmentRecord, FactoryRecord
from libs.servicekit.imports import ImportKind
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.imports.assessments import import_assessments
from services.assessment.imports.factories import import_factories

IMPORTS: list[ImportKind[Dependencies]] = [
    ImportKind(
        "factories",
        FactoryRecord,
        import_factories,
        summary="Import factories of a programme's history",
        description="Each factory is registered on `registered_on` (business time) with the "
        "workforce of that year, then updated on 1 January of each later year whose workforce "
        "differs. The live API's rules hold (ISO country code, ISIC sector, OS ID with the "
        "factory's country, one factory per OS ID); an admin imports only factories of its "
        "country programmes (another country is a row error on `country`).",
    ),
    ImportKind(
        "assessments",
        AssessmentRecord,
        import_assessments,
        summary="Import completed assessments of a programme's history",
        description="Each assessment of an imported factory (else a row error on `factory`, "
        "also for a factory of another country programme) is recorded as the live API would: "
        "scheduled and its findings recorded on `assessed_on`, completed on `report_date`, each "
        "correction and response on its day. Against the catalogue in force on `assessed_on` "
        "(or `catalogue_version`) with the factory's country variant: every finding's question "
        "in it, every critical question answered, evidence for a non-compliance. A cycle is "
        "the factory's once, in the order of its visits.",
    ),
]

"""`POST /v1/imports/assessments`: completed assessments of a programme's history, each decided
by the Assessment aggregate's rules against the catalogue in force on its day, and written with
its events at their business times (scheduled and found on the visit's day, completed on the
report's, corrections and responses on theirs)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Table

from libs.domain.history.assessment import AssessmentRecord
from libs.domain.history.bundle import imported_id
from libs.events.store import UnitOfWork
from libs.servicekit.imports import ImportBatch
from services.assessment.credentials.imported import ImportedReport, issue_imported
from services.assessment.domain.assessment_state import ASSESSMENT
from services.assessment.domain.history import (
    Rejected,
    assessment_history,
    catalogue_for,
    cycle_conflict,
)
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.imports.writes import Appender, reject, write_rows
from services.assessment.projections import BUMP_COUNTRIES
from services.assessment.queries.imports import cycles_of, factories_by_id
from services.assessment.rebuild import assessment_rows
from services.assessment.tables import (
    assessment,
    assessment_point,
    finding,
    finding_response,
)

KIND = "assessments"


async def import_assessments(deps: Dependencies, batch: ImportBatch[AssessmentRecord]) -> None:
    """Decide every record first (its factory known and in the importer's countries, its cycle
    the factory's alone and in the order of the visits, the aggregate's rules); append and
    project only when none is refused."""
    factory_ids = {imported_id("factories", item.record.factory) for item in batch.records}
    decided: list[ImportedReport] = []  # each appended record, in the order appended
    async with deps.assessments.store.unit_of_work(connection=batch.connection) as unit:
        appender = Appender(unit)
        try:
            await _decide_and_append(deps, batch, unit, appender, factory_ids, decided)
            written = await appender.written()
        except BaseException:
            await appender.abandon()
            raise
        if batch.errors:
            return  # the request is answered 422 and rolled back: nothing is written
        rows: dict[Table, list[dict[str, Any]]] = {
            assessment: [],
            finding: [],
            finding_response: [],
            assessment_point: [],
        }
        for facts in written:
            assessment_row = assessment_rows(facts, deps.catalogues)
            assert assessment_row.assessment is not None
            rows[assessment].append(assessment_row.assessment)
            rows[finding].extend(assessment_row.findings)
            rows[finding_response].extend(assessment_row.responses)
            rows[assessment_point].extend(assessment_row.points)
        await write_rows(unit.connection, rows)
        countries = sorted({row["country"] for row in rows[assessment]})
        if countries:  # the yearly syntheses each process keeps are out of date
            await unit.connection.execute(BUMP_COUNTRIES, {"countries": countries})
        if deps.credentials is not None:  # each report's credential (docs/credentials.md)
            reports = [
                replace(report, versions=[(fact.event, fact.version) for fact in facts])
                for report, facts in zip(decided, written, strict=True)
            ]
            await issue_imported(
                deps.credentials,
                unit,
                batch,
                reports,
                effective_from=deps.catalogues.effective_from,
                issued_at=deps.clock(),
            )


async def _decide_and_append(
    deps: Dependencies,
    batch: ImportBatch[AssessmentRecord],
    unit: UnitOfWork,
    appender: Appender,
    factory_ids: set[str],
    decided: list[ImportedReport],
) -> None:
    """Each record decided, and appended while the next is decided, until one is refused (the
    rest are still decided, for their row errors)."""
    today = deps.clock().date()
    factories = await factories_by_id(unit.connection, factory_ids)
    cycles = await cycles_of(unit.connection, factory_ids)
    for item in batch.records:
        record = item.record
        factory_id = imported_id("factories", record.factory)
        factory = factories.get(factory_id)
        # another programme's factory is as unknown as one never imported (as when scheduling)
        if factory is None or not batch.principal.works_in(factory.country):
            batch.reject(item, "factory", f"unknown factory {record.factory}")
            continue
        batch.scope(item, factory.country)
        conflict = cycle_conflict(record.cycle, record.assessed_on, cycles[factory_id])
        if conflict is not None:
            batch.reject(item, "cycle", conflict)
            continue
        assessment_id = imported_id(KIND, record.source_id)
        try:
            catalogue = catalogue_for(record, factory.country, deps.catalogues)
            history = assessment_history(
                record,
                assessment_id=assessment_id,
                factory=factory,
                catalogue=catalogue,
                by=batch.principal.subject,
                today=today,
            )
        except Rejected as rejected:
            reject(batch, item, rejected)
            continue
        cycles[factory_id].append((record.cycle, record.assessed_on))
        if not batch.errors:
            await appender.append(
                batch, item, ASSESSMENT, assessment_id, history, subject=factory_id
            )
            decided.append(ImportedReport(item, history.state, catalogue, factory, ()))

"""`POST /v1/imports/factories`: factories of a programme's history, each registered on its day
with the workforce of that year, then updated on 1 January of each later year."""

from __future__ import annotations

from sqlalchemy import Table

from libs.domain.history.assessment import FactoryRecord
from libs.domain.history.bundle import imported_id
from libs.servicekit.imports import ImportBatch, Numbered
from services.assessment.domain.factory import FACTORY, Factory
from services.assessment.domain.history import History, Rejected, factory_history
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.imports.writes import Appender, reject, write_rows
from services.assessment.queries.imports import os_id_owners
from services.assessment.rebuild import factory_row
from services.assessment.tables import factory

KIND = "factories"


async def import_factories(deps: Dependencies, batch: ImportBatch[FactoryRecord]) -> None:
    """Decide every record first (the live API's rules, the importer's countries, OS IDs one
    factory's each); append and project only when none is refused."""
    today = deps.clock().date()
    decided: list[tuple[Numbered[FactoryRecord], str, History[Factory]]] = []
    for item in batch.records:
        record = item.record
        if not batch.principal.works_in(record.country):
            batch.reject(item, "country", f"{record.country} is not one of your country programmes")
            continue
        batch.scope(item, record.country)
        factory_id = imported_id(KIND, record.source_id)
        try:
            history = factory_history(record, factory_id=factory_id, today=today)
        except Rejected as rejected:
            reject(batch, item, rejected)
            continue
        decided.append((item, factory_id, history))
    async with deps.factories.store.unit_of_work(connection=batch.connection) as unit:
        held = await os_id_owners(
            unit.connection, {h.state.os_id for _, _, h in decided if h.state.os_id is not None}
        )
        for item, factory_id, history in decided:
            os_id = history.state.os_id
            if os_id is None:
                continue
            if os_id in held:
                batch.reject(item, "os_id", f"OS ID {os_id} is another factory's")
            held[os_id] = factory_id  # a later record with the same OS ID is refused
        if batch.errors:
            return  # nothing is written: the request is answered 422
        appender = Appender(unit)
        try:
            for item, factory_id, history in decided:
                await appender.append(batch, item, FACTORY, factory_id, history, subject=factory_id)
            written = await appender.written()
        except BaseException:
            await appender.abandon()
            raise
        rows = []
        for facts in written:
            row = factory_row(facts)
            assert row is not None
            rows.append(row)
        tables: dict[Table, list[dict[str, object]]] = {factory: rows}
        await write_rows(unit.connection, tables)

"""A programme's past through `POST /v1/imports/factories` and `/assessments` (issue 19): facts
keep the day they happened (business time) apart from when they were recorded, importing again
changes nothing, and a bad record imports nothing of the request (row errors with line and
field)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import text

from libs.domain.history.bundle import at_noon, imported_id
from libs.servicekit.service import RebuildContext
from services.assessment.contract import CONTRACT
from services.assessment.service import SERVICE
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.history import (
    BUNDLE,
    CHECKSUM,
    FACTORIES,
    admin,
    counts,
    factory_record,
    imported,
    send,
    three_years,
)
from services.assessment.tests.integration.steps import PROBLEM, published
from services.assessment.tests.integration.test_rebuild import rows


class TestImportOfThreeYears:
    async def test_imports_factories_and_assessments_at_their_business_time(
        self,
        client: httpx.AsyncClient,
        auth: Headers,
        service: AssessmentService,
        nats_url: str,
        subject_prefix: str,
    ) -> None:
        started = datetime.now(UTC)
        headers = admin(auth, ["KH"])
        factories = await send(client, headers, "factories", [factory_record(f) for f in FACTORIES])
        assert factories.status_code == 200, factories.text
        report = factories.json()
        # registered, then one update per later year of workforce (2004, 2005)
        assert (report["received"], report["imported"], report["unchanged"]) == (2, 2, 0)
        assert report["events"] == 6
        assessments = await send(client, headers, "assessments", three_years(FACTORIES))
        assert assessments.status_code == 200, assessments.text
        report = assessments.json()
        assert (report["received"], report["imported"], report["unchanged"]) == (6, 6, 0)
        total = await counts(service)
        assert total["event"] == 6 + report["events"] and total["import_record"] == 8
        assert (total["factory"], total["assessment"]) == (2, 6)
        assert total["snapshot"] == 0  # a later live command folds an imported stream

        factory_id = imported_id("factories", "KH-F-1")
        shown = await client.get(f"/v1/factories/{factory_id}", headers=headers)
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert body["workforce"] == {"women": 950, "men": 240}  # the latest year's
        assert body["registered_at"].startswith("2003-03-05T12:00:00")
        assert body["updated_at"].startswith("2005-01-01T12:00:00")

        third = imported_id("assessments", "KH-F-1-A3")
        detail = (await client.get(f"/v1/assessments/{third}", headers=headers)).json()
        assert (detail["status"], detail["cycle"], detail["catalogue_version"]) == (
            "completed",
            3,
            "2008.1",
        )
        assert detail["report_date"] == "2008-09-28" and detail["scheduled_for"] == "2008-09-01"
        history = (
            await client.get(f"/v1/assessments/{third}/history?limit=500", headers=headers)
        ).json()
        first, last, issued = history[0], history[-2], history[-1]
        assert first["event_type"].endswith(".AssessmentScheduled.v1")
        assert first["occurred_at"].startswith("2008-09-01T12:00:00")
        assert first["imported_from"] == BUNDLE and first["actor"] == "kh-admin"
        assert datetime.fromisoformat(first["recorded_at"]) >= started
        # the correction's NonComplianceFound, its last step; then the report's credential,
        # issued now (as imported: revision 0), attributed to the import
        assert last["event_type"].endswith(".NonComplianceFound.v1")
        assert last["occurred_at"].startswith("2008-10-15T12:00:00")
        assert issued["event_type"].endswith(".ReportCredentialIssued.v1")
        assert datetime.fromisoformat(issued["occurred_at"]) >= started
        assert issued["imported_from"] == BUNDLE and issued["data"]["revision"] == 0
        assert detail["version"] == issued["version"]

        # the public events: business time, recorded now, marked imported from the bundle
        envelopes = await published(nats_url, subject_prefix, await _outbox(service))
        assert envelopes and all(envelope.importedfrom == BUNDLE for envelope in envelopes)
        assert all(envelope.recorded_time >= started for envelope in envelopes)
        by_type: dict[str, list[Any]] = {}
        for envelope in envelopes:
            by_type.setdefault(envelope.event_name, []).append(envelope)
        assert {e.time for e in by_type["FactoryRegistered"]} == {at_noon(date(2003, 3, 5))}
        completed_times = {e.time.date() for e in by_type["AssessmentCompleted"]}
        assert completed_times == {date(2003, 6, 28), date(2005, 6, 28), date(2008, 9, 28)}
        assert {e.time.date() for e in by_type["FindingCorrected"]} == {date(2008, 10, 15)}
        assert {e.time.date() for e in by_type["FindingDisputed"]} == {date(2008, 10, 2)}
        assert "FindingRecorded" not in by_type  # what never leaves the service stays in
        async with service.engine.connect() as connection:
            stored = await connection.scalar(
                text(
                    "SELECT metadata->'imported' FROM assessment.event "
                    "WHERE event_type LIKE '%.AssessmentCompleted.%' LIMIT 1"
                )
            )
        assert stored["bundle"] == BUNDLE and stored["checksum"] == CHECKSUM
        assert stored["kind"] == "assessments" and stored["imported_by"] == "kh-admin"

    async def test_the_yearly_synthesis_and_trend_show_the_imported_years(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        headers = admin(auth)
        await imported(client, headers)
        for year in (2003, 2005, 2008):
            synthesis = await client.get(
                f"/v1/assessments/synthesis?country=KH&year={year}", headers=headers
            )
            assert synthesis.status_code == 200, synthesis.text
            assert synthesis.json()["assessments"] == 2
        empty = await client.get("/v1/assessments/synthesis?country=KH&year=2004", headers=headers)
        assert empty.json()["assessments"] == 0
        factory_id = imported_id("factories", "KH-F-2")
        trend = (
            await client.get(f"/v1/factories/{factory_id}/compliance-trend", headers=headers)
        ).json()
        assert [entry["report_date"] for entry in _entries(trend)] == [
            "2003-06-28",
            "2005-06-28",
            "2008-09-28",
        ]


class TestImportingAgain:
    async def test_the_same_lines_change_nothing(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        await imported(client, headers)
        before = await counts(service)
        factories = await send(client, headers, "factories", [factory_record(f) for f in FACTORIES])
        assessments = await send(client, headers, "assessments", three_years(FACTORIES))
        assert factories.status_code == 200 and assessments.status_code == 200
        assert (factories.json()["unchanged"], factories.json()["imported"]) == (2, 0)
        assert (assessments.json()["unchanged"], assessments.json()["events"]) == (6, 0)
        assert await counts(service) == before

    async def test_a_source_id_with_other_content_is_refused(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        await imported(client, headers)
        before = await counts(service)
        changed = three_years(FACTORIES)
        changed[1]["report_date"] = "2005-06-29"
        response = await send(client, headers, "assessments", changed)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"] == [
            {
                "line": 2,
                "source_id": "KH-F-1-A2",
                "field": "source_id",
                "reason": f"imported before (bundle {BUNDLE}) with other content",
            }
        ]
        assert await counts(service) == before


class TestRebuild:
    async def test_rebuilt_read_models_equal_the_imported_ones(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        await imported(client, headers)
        # a live correction of an imported report: the repository loads its imported stream
        third = imported_id("assessments", "KH-F-2-A3")
        corrected = await client.post(
            f"/v1/assessments/{third}/findings/OSH-EMP-03/corrections",
            json={"result": "non_compliant", "evidence": "no drill", "reason": "log reviewed"},
            headers=headers,
        )
        assert corrected.status_code == 201, corrected.text
        imported_rows = await rows(service)
        assert len(imported_rows["response"]) == 2 and len(imported_rows["point"]) > 100
        assert SERVICE.rebuild is not None
        context = RebuildContext(
            service.settings, service.engine, service.registry, lambda *_: None
        )
        report = await SERVICE.rebuild(context)
        assert report.summary().startswith("2 factories, 6 assessments")
        assert await rows(service) == imported_rows


def _entries(trend: Any) -> list[dict[str, Any]]:
    return list(trend["cycles"] if isinstance(trend, dict) else trend)


async def _outbox(service: AssessmentService) -> int:
    """How many public events the stored events publish (the relay empties the outbox)."""
    async with service.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT event_type, data::text FROM assessment.event ORDER BY position")
        )
        stored = [service.registry.decode_json(row[0], row[1]) for row in rows]
    return sum(len(CONTRACT.translate(event, None)) for event in stored)

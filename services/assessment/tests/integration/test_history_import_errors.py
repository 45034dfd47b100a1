"""Bad records of a programme's history (issue 19): each request holds one or a few bad records
among good ones, and is answered 422 `import-rejected` with each bad record's line, source id,
field and reason, writing nothing; and who may import."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.history import (
    FACTORIES,
    admin,
    assessment_record,
    counts,
    factory_record,
    imported,
    os_id,
    send,
    three_years,
)
from services.assessment.tests.integration.steps import PROBLEM


async def refused(
    client: httpx.AsyncClient,
    service: AssessmentService,
    headers: dict[str, str],
    kind: str,
    records: list[dict[str, Any]] | bytes,
    first_line: int = 1,
) -> list[dict[str, Any]]:
    """Send `records`: a 422 import-rejected problem, and nothing written; its row errors."""
    before = await counts(service)
    response = await send(client, headers, kind, records, first_line=first_line)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith("import-rejected")
    assert await counts(service) == before
    errors: list[dict[str, Any]] = problem["errors"]
    return errors


class TestBadRecords:
    """Each request holds one bad record among good ones: 422 with its line and field, and
    nothing of the request is written."""

    async def _with_factories(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> list[dict[str, Any]]:
        response = await send(client, headers, "factories", [factory_record(f) for f in FACTORIES])
        assert response.status_code == 200, response.text
        return three_years(FACTORIES)

    async def test_a_schema_violation(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = [factory_record("KH-F-1"), factory_record("KH-F-2", country="Cambodia")]
        errors = await refused(client, service, headers, "factories", records, 11)
        assert [(e["line"], e["source_id"], e["field"]) for e in errors] == [
            (12, "KH-F-2", "country")
        ]

    async def test_what_the_live_api_refuses(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = [
            factory_record("KH-F-1", os_id=os_id("KH")),
            factory_record("KH-F-2", country="XX"),  # no such country
            factory_record("KH-F-3", os_id=os_id("BD")),  # another country's OS ID
            factory_record("KH-F-4", sector_isic="0400"),  # no such ISIC division
            factory_record("KH-F-5", os_id=os_id("KH")),  # KH-F-1's
            factory_record("KH-F-6", name="Nul\u0000Garments"),
        ]
        errors = await refused(client, service, headers, "factories", records)
        assert [(e["line"], e["field"]) for e in errors] == [
            (2, "country"),
            (3, "os_id"),
            (4, "sector_isic"),
            (5, "os_id"),
            (6, "name"),
        ]

    async def test_an_unknown_factory(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = await self._with_factories(client, headers)
        records.insert(2, assessment_record("KH-X-A1", "KH-F-9", 1, date(2004, 5, 3)))
        errors = await refused(client, service, headers, "assessments", records)
        assert errors == [
            {
                "line": 3,
                "source_id": "KH-X-A1",
                "field": "factory",
                "reason": "unknown factory KH-F-9",
            }
        ]

    async def test_a_question_not_in_that_years_catalogue(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = await self._with_factories(client, headers)
        # OSH-CHE came with catalogue 2008.1: not a question of a 2003 assessment
        records[0]["findings"].append(
            {"question_id": "OSH-CHE-01", "compliant": True, "evidence": ""}
        )
        index = len(records[0]["findings"]) - 1
        errors = await refused(client, service, headers, "assessments", records)
        assert errors == [
            {
                "line": 1,
                "source_id": "KH-F-1-A1",
                "field": f"findings.{index}.question_id",
                "reason": "not in catalogue 2001.1",
            }
        ]

    async def test_unanswered_critical_questions_are_named(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = await self._with_factories(client, headers)
        records[3]["findings"] = [
            finding
            for finding in records[3]["findings"]
            if finding["question_id"] not in {"CHL-CHI-01", "FOR-BON-01"}
        ]
        errors = await refused(client, service, headers, "assessments", records)
        assert [(e["line"], e["field"]) for e in errors] == [(4, "findings")]
        assert "CHL-CHI-01, FOR-BON-01" in errors[0]["reason"]

    async def test_a_report_before_its_assessment(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = await self._with_factories(client, headers)
        records[2]["report_date"] = "2008-08-31"  # the visit began on 2008-09-01
        errors = await refused(client, service, headers, "assessments", records)
        # the bundle's own rule, on the whole record (libs/domain/history/assessment.py)
        assert [(e["line"], e["field"]) for e in errors] == [(3, "record")]
        assert "report_date is before assessed_on" in errors[0]["reason"]

    async def test_a_cycle_taken_or_out_of_order(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = await self._with_factories(client, headers)
        records[1]["cycle"] = 1  # KH-F-1's 2005 assessment, as cycle 1 again
        records[5]["cycle"] = 4  # KH-F-2's 2008 assessment, then its 2005 one cannot be...
        records[4]["cycle"] = 5  # ...cycle 5
        errors = await refused(client, service, headers, "assessments", records)
        assert [(e["line"], e["field"]) for e in errors] == [(2, "cycle"), (6, "cycle")]
        assert "cycle 1 is the factory's assessment of 2003-06-02" in errors[0]["reason"]

    async def test_what_cannot_have_happened_or_be_stored(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        headers = admin(auth)
        records = await self._with_factories(client, headers)
        records[0]["catalogue_version"] = "2025.1"  # took effect in 2025
        records[2]["corrections"][0]["corrected_on"] = "2099-01-01"
        records[3]["findings"][0]["evidence"] = "NUL\u0000"  # no database text holds it
        errors = await refused(client, service, headers, "assessments", records)
        assert [(e["line"], e["field"]) for e in errors] == [
            (1, "catalogue_version"),
            (3, "corrections.0"),
            (4, "findings.0.evidence"),
        ]


class TestWhoImports:
    async def test_only_an_admin(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        before = await counts(service)
        for headers in (auth(Role.ASSESSOR, "kh-assessor", countries=["KH"]), {}):
            response = await send(client, headers, "factories", [factory_record("KH-F-1")])
            assert response.status_code in (401, 403)
            assert response.headers["content-type"] == PROBLEM
        assessor = auth(Role.ASSESSOR, "kh-assessor", countries=["KH"])
        refused = await send(client, assessor, "factories", [factory_record("KH-F-1")])
        assert refused.status_code == 403
        assert await counts(service) == before

    async def test_an_admin_of_another_country_gets_row_errors(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        await imported(client, admin(auth, ["KH"]))
        bangladesh = admin(auth, ["BD"])
        before = await counts(service)
        errors = await refused(client, service, bangladesh, "factories", [factory_record("KH-F-3")])
        assert [(e["field"], e["reason"]) for e in errors] == [
            ("country", "KH is not one of your country programmes")
        ]
        more = [assessment_record("KH-F-1-A4", "KH-F-1", 4, date(2009, 9, 7))]
        errors = await refused(client, service, bangladesh, "assessments", more)
        # another programme's factory is as unknown as one never imported
        assert [(e["field"], e["reason"]) for e in errors] == [
            ("factory", "unknown factory KH-F-1")
        ]
        assert await counts(service) == before

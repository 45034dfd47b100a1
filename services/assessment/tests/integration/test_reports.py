"""What a completed assessment gives: corrections and the factory's responses, its history and
report, the factory's trend across cycles, and the country's yearly synthesis (kept by each process
until a completion or a correction moves it)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import completed_assessment, register

pytestmark = pytest.mark.integration


class TestAfterTheReport:
    async def test_corrections_responses_history_report_and_trend(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        factory_id = await register(client, auth)
        first = await completed_assessment(client, auth, factory_id)
        correction = await client.post(
            f"/v1/assessments/{first}/findings/OSH-EMP-01/corrections",
            json={
                "result": "non_compliant",
                "evidence": "exit chained",
                "reason": "photo reviewed",
            },
            headers=auth(subject="assessor-2"),
        )
        assert correction.status_code == 201, correction.text
        factory_user = auth(Role.FACTORY, "factory-user", factory_id=factory_id)
        disputed = await client.post(
            f"/v1/assessments/{first}/findings/OSH-EMP-01/responses",
            json={"kind": "dispute", "text": "It was open", "reason": "key holder on site"},
            headers=factory_user,
        )
        assert disputed.status_code == 201, disputed.text

        history = (
            await client.get(f"/v1/assessments/{first}/history", headers=factory_user)
        ).json()
        assert [entry["version"] for entry in history] == list(range(1, len(history) + 1))
        corrected = next(e for e in history if e["event_type"].endswith("FindingCorrected.v1"))
        assert corrected["actor"] == "assessor-2"
        assert corrected["data"]["before"]["result"] == "compliant"
        assert corrected["data"]["after"]["result"] == "non_compliant"

        report = (await client.get(f"/v1/assessments/{first}/report", headers=factory_user)).json()
        assert {issue["question_id"] for issue in report["critical_issues"]} == {
            "OSH-EMP-01",
            "OSH-EMP-03",
        }
        osh = next(c for c in report["clusters"] if c["cluster_id"] == "OSH")
        assert (osh["questions"], osh["non_compliant"]) == (6, 2)
        emergency = next(
            p for p in osh["compliance_points"] if p["compliance_point_id"] == "OSH-EMP"
        )
        exit_finding = next(f for f in emergency["findings"] if f["question_id"] == "OSH-EMP-01")
        assert exit_finding["responses"][0]["kind"] == "dispute"

        second = await completed_assessment(client, auth, factory_id)
        trend = (
            await client.get(f"/v1/factories/{factory_id}/compliance-trend", headers=auth())
        ).json()
        assert [c["cycle"] for c in trend["cycles"]] == [1, 2]
        assert trend["cycles"][1]["assessment_id"] == second
        assert trend["cycles"][1]["change"]["non_compliant"] == -1

        synthesis = await client.get(
            "/v1/assessments/synthesis?country=KH&year=" + report["report_date"][:4], headers=auth()
        )
        assert synthesis.status_code == 200 and synthesis.json()["assessments"] == 2
        osh_points = next(c for c in synthesis.json()["clusters"] if c["cluster_id"] == "OSH")
        drills = next(
            p for p in osh_points["compliance_points"] if p["compliance_point_id"] == "OSH-EMP"
        )
        assert (drills["factories_assessed"], drills["factories_non_compliant"]) == (1, 1)


class TestSynthesisKept:
    async def test_the_synthesis_is_kept_until_a_completion_moves_its_countrys_version(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        async def version(country: str) -> int:
            async with service.engine.connect() as connection:
                value = await connection.scalar(
                    text("SELECT version FROM assessment.synthesis_version WHERE country = :c"),
                    {"c": country},
                )
            return int(value or 0)

        async def synthesis() -> dict[str, Any]:
            response = await client.get(
                f"/v1/assessments/synthesis?country=KH&year={year}", headers=auth()
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        first = await completed_assessment(client, auth, await register(client, auth))
        detail = (await client.get(f"/v1/assessments/{first}", headers=auth())).json()
        year = int(detail["report_date"][:4])
        before = await version("KH")
        assert before > 0
        assert (await synthesis())["assessments"] == 1
        reads = service.deps.reads
        assert reads is not None
        kept = reads.synthesis_cache.get("KH", year, before)
        assert kept is not None and kept["assessments"] == 1  # answered from here next time
        assert await synthesis() == kept

        await completed_assessment(client, auth, await register(client, auth))
        assert await version("KH") > before
        assert reads.synthesis_cache.get("KH", year, await version("KH")) is None
        assert (await synthesis())["assessments"] == 2

"""The problem types clients know: each refusal of the assessment API keeps the status and type
slug it always had (the service's own errors, and the shared bases of libs.domain.errors), with
the extension members a client acts on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.assessment.tests.integration.conftest import Headers
from services.assessment.tests.integration.steps import (
    PROBLEM,
    completed_assessment,
    factory_body,
    record,
    register,
    schedule,
)

pytestmark = pytest.mark.integration

OS_ID = "KH2019257Q2JMGW"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, Any] = response.json()
    assert document["type"] == f"https://betterwork.example/problems/{slug}"
    assert document["status"] == status
    return document


class TestProblemTypes:
    async def test_an_os_id_of_another_factory_is_os_id_taken(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        await register(client, auth, os_id=OS_ID)
        response = await client.post(
            "/v1/factories", json=factory_body(name="Copy", os_id=OS_ID), headers=auth()
        )
        problem = assert_problem(response, 409, "os-id-taken")
        assert problem["title"] == "OS ID taken" and problem["os_id"] == OS_ID

    async def test_a_stale_if_match_is_precondition_failed_with_the_current_version(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        factory_id = await register(client, auth)
        response = await client.patch(
            f"/v1/factories/{factory_id}", json={"name": "X"}, headers={**auth(), "If-Match": '"7"'}
        )
        problem = assert_problem(response, 412, "precondition-failed")
        assert problem["current_version"] == 1

    async def test_an_unknown_assessment_is_not_found(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assert_problem(await record(client, auth, "a-unknown", "OSH-EMP-01"), 404, "not-found")

    async def test_an_unknown_factory_in_the_body_is_unprocessable(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        response = await client.post(
            "/v1/assessments",
            json={"factory_id": "f-unknown", "scheduled_for": "2025-03-03", "assessors": ["a1"]},
            headers=auth(),
        )
        problem = assert_problem(response, 422, "unprocessable-entity")
        assert problem["factory_id"] == "f-unknown"

    async def test_the_rules_of_recording_and_completion(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        unknown = await record(client, auth, assessment_id, "COM-PRE-BD01")
        assert assert_problem(unknown, 422, "unknown-question")["question_id"] == "COM-PRE-BD01"
        twice = await client.post(
            f"/v1/assessments/{assessment_id}/findings",
            json={"findings": [{"question_id": "OSH-EMP-01", "result": "compliant"}] * 2},
            headers=auth(),
        )
        assert assert_problem(twice, 422, "unprocessable-entity")["question_id"] == "OSH-EMP-01"
        assert (await record(client, auth, assessment_id, "OSH-EMP-01")).status_code == 200
        missing = await client.post(
            f"/v1/assessments/{assessment_id}/findings/OSH-EMP-01/corrections",
            json={"result": "non_compliant", "evidence": "seen", "reason": "late"},
            headers=auth(),
        )
        assert_problem(missing, 409, "assessment-not-completed")
        incomplete = await client.post(f"/v1/assessments/{assessment_id}/complete", headers=auth())
        problem = assert_problem(incomplete, 422, "critical-questions-unanswered")
        assert problem["title"] == "Critical questions unanswered"
        assert "OSH-EMP-01" not in problem["unanswered_critical_questions"]

    async def test_a_finding_after_completion_is_assessment_completed(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        late = await record(client, auth, assessment_id, "WT-LEA-01")
        problem = assert_problem(late, 409, "assessment-completed")
        assert problem["title"] == "Assessment completed"
        assert problem["assessment_id"] == assessment_id

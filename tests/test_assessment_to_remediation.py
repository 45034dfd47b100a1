"""Cross-service: an assessment completed through the assessment service's REST API becomes an
improvement plan in the remediation service, one item per non-compliance (both apps in this process,
one database with their own schemas, one subject prefix, real NATS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from services.assessment.compliance_catalogue import load_library
from services.assessment.service import SERVICE as ASSESSMENT
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA as ASSESSMENT_SCHEMA
from services.remediation.projections import SCHEMA as REMEDIATION_SCHEMA
from services.remediation.service import SERVICE as REMEDIATION
from services.remediation.settings import RemediationSettings

SECRET = "cross-service-tests-secret-of-at-least-32-bytes"
_CATALOGUE = load_library().resolve("2025.1", "KH")
assert _CATALOGUE is not None
CRITICAL_QUESTIONS = sorted(_CATALOGUE.critical_question_ids)


@pytest.fixture
async def clients(
    database_url: str, nats_url: str, subject_prefix: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    await asyncio.to_thread(run_migrations, database_url, ASSESSMENT.migrations, ASSESSMENT_SCHEMA)
    await asyncio.to_thread(
        run_migrations, database_url, REMEDIATION.migrations, REMEDIATION_SCHEMA
    )
    common = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
    }
    assessment = ASSESSMENT.app(AssessmentSettings(**common))  # type: ignore[arg-type]
    remediation = REMEDIATION.app(
        RemediationSettings(**common, BW_REMEDIATION_SCHEDULER_ENABLED=False)  # type: ignore[arg-type]
    )
    async with AsyncExitStack() as stack:
        http: list[httpx.AsyncClient] = []
        for app, name in ((assessment, "assessment"), (remediation, "remediation")):
            await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
            http.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
                    )
                )
            )
        yield http[0], http[1]


def headers(role: Role, **claims: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, 'tester', role, **claims)}"}  # type: ignore[arg-type]


async def test_a_completed_assessment_becomes_an_improvement_plan(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    assessment, remediation = clients
    staff = headers(Role.ASSESSOR)
    factory = await assessment.post(
        "/v1/factories",
        json={
            "name": "Mekong Garments",
            "country": "KH",
            "address": "Street 2004, Phnom Penh",
            "sector_isic": "1410",
            "workforce": {"women": 800, "men": 200},
        },
        headers=staff,
    )
    assert factory.status_code == 201, factory.text
    factory_id = factory.json()["factory_id"]
    scheduled = await assessment.post(
        "/v1/assessments",
        json={"factory_id": factory_id, "scheduled_for": "2025-03-03", "assessors": ["a1", "a2"]},
        headers=staff,
    )
    assert scheduled.status_code == 201, scheduled.text
    assessment_id = scheduled.json()["assessment_id"]
    critical = CRITICAL_QUESTIONS
    non_compliant = set(critical[:3])
    for question_id in critical:
        result = "non_compliant" if question_id in non_compliant else "compliant"
        recorded = await assessment.put(
            f"/v1/assessments/{assessment_id}/findings/{question_id}",
            json={
                "result": result,
                "evidence": "seen on site" if result == "non_compliant" else "",
            },
            headers=staff,
        )
        assert recorded.status_code == 200, recorded.text
    completed = await assessment.post(f"/v1/assessments/{assessment_id}/complete", headers=staff)
    assert completed.status_code == 200, completed.text

    own_factory = headers(Role.FACTORY, factory_id=factory_id)
    items: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while len(items) < len(non_compliant):
            await asyncio.sleep(0.2)
            response = await remediation.get(
                f"/v1/improvement-plans/{factory_id}/items", headers=own_factory
            )
            items = response.json()["items"] if response.status_code == 200 else []
    assert {item["question_id"] for item in items} == non_compliant
    assert all(item["assessment_id"] == assessment_id and item["critical"] for item in items)
    assert all(item["status"] == "open" and item["persistent"] is False for item in items)
    plan = await remediation.get(f"/v1/improvement-plans/{factory_id}", headers=own_factory)
    assert plan.json()["progress"]["total"] == len(non_compliant)

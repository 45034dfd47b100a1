"""Cross-service, the whole flow: a factory registered and assessed in the assessment service, its
plan in the remediation service, shared with a buyer in the buyer sharing service: the buyer's
portfolio and reports show it, and a revocation hides it at once (three apps in this process, one
database with their own schemas, one subject prefix, real NATS)."""

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
from services.buyer_sharing.service import SERVICE as BUYER_SHARING
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA as SHARING_SCHEMA
from services.remediation.projections import SCHEMA as REMEDIATION_SCHEMA
from services.remediation.service import SERVICE as REMEDIATION
from services.remediation.settings import RemediationSettings

SECRET = "cross-service-tests-secret-of-at-least-32-bytes"
_CATALOGUE = load_library().resolve("2025.1", "KH")
assert _CATALOGUE is not None
CRITICAL_QUESTIONS = sorted(_CATALOGUE.critical_question_ids)

Clients = tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient]


@pytest.fixture
async def clients(database_url: str, nats_url: str, subject_prefix: str) -> AsyncIterator[Clients]:
    for migrations, schema in (
        (ASSESSMENT.migrations, ASSESSMENT_SCHEMA),
        (REMEDIATION.migrations, REMEDIATION_SCHEMA),
        (BUYER_SHARING.migrations, SHARING_SCHEMA),
    ):
        await asyncio.to_thread(run_migrations, database_url, migrations, schema)
    common: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
    }
    apps = (
        (ASSESSMENT.app(AssessmentSettings(**common)), "assessment"),
        (
            REMEDIATION.app(RemediationSettings(**common, BW_REMEDIATION_SCHEDULER_ENABLED=False)),
            "remediation",
        ),
        (BUYER_SHARING.app(BuyerSharingSettings(**common)), "buyer-sharing"),
    )
    async with AsyncExitStack() as stack:
        http: list[httpx.AsyncClient] = []
        for app, name in apps:
            await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
            http.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
                    )
                )
            )
        yield http[0], http[1], http[2]


def headers(role: Role, **claims: str) -> dict[str, str]:
    token = mint_token(SECRET, f"{role}-user", role, **claims)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


async def eventually(check: Any, timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.2)


async def test_a_shared_factory_shows_its_report_and_plan_in_the_buyers_portfolio(
    clients: Clients,
) -> None:
    assessment, remediation, sharing = clients
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
    assessment_id = scheduled.json()["assessment_id"]
    non_compliant = set(CRITICAL_QUESTIONS[:2])
    for question_id in CRITICAL_QUESTIONS:
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

    async def plan_items() -> list[dict[str, Any]] | None:
        response = await remediation.get(
            f"/v1/improvement-plans/{factory_id}/items", headers=own_factory
        )
        items: list[dict[str, Any]] = response.json()["items"] if response.is_success else []
        return items if len(items) == len(non_compliant) else None

    items = await eventually(plan_items)
    started = items[0]
    moved = await remediation.post(
        f"/v1/improvement-plans/{factory_id}/items/{started['item_id']}/status",
        json={"status": "in_progress"},
        headers=own_factory,
    )
    assert moved.status_code == 200, moved.text

    admin = headers(Role.ADMIN)
    registered = await sharing.post(
        "/v1/buyers",
        json={
            "buyer_id": "brand-a",
            "name": "Brand A",
            "country": "US",
            "contact_name": "Sourcing",
            "contact_email": "sourcing@brand-a.example",
        },
        headers=admin,
    )
    assert registered.status_code == 201, registered.text
    granted = await sharing.post(
        "/v1/sharing-grants", json={"buyer_id": "brand-a"}, headers=own_factory
    )
    assert granted.status_code == 201, granted.text
    buyer = headers(Role.BUYER, buyer_id="brand-a")

    async def portfolio_entry() -> dict[str, Any] | None:
        response = await sharing.get("/v1/buyers/brand-a/factories", headers=buyer)
        entries = response.json()["items"]
        if not entries:
            return None
        entry: dict[str, Any] = entries[0]
        plan = entry["improvement_plan"]
        ready = entry["name"] and entry["latest_report"] and plan and plan["in_progress"] == 1
        return entry if ready else None

    entry = await eventually(portfolio_entry)
    assert entry["name"] == "Mekong Garments"
    assert entry["latest_report"]["assessment_id"] == assessment_id
    assert entry["latest_report"]["critical_issues_found"] == len(non_compliant)
    assert entry["open_critical_issues"] == len(non_compliant)
    assert entry["improvement_plan"]["total"] == len(non_compliant)

    reports = await sharing.get(f"/v1/buyers/brand-a/factories/{factory_id}/reports", headers=buyer)
    assert reports.status_code == 200
    (report,) = reports.json()
    statuses = {f["question_id"]: f["remediation_status"] for f in report["findings"]}
    assert set(statuses) == non_compliant
    assert statuses[started["question_id"]] == "in_progress"

    other_buyer = headers(Role.BUYER, buyer_id="brand-b")
    hidden = await sharing.get(
        f"/v1/buyers/brand-b/factories/{factory_id}/reports", headers=other_buyer
    )
    assert hidden.status_code == 404

    revoked = await sharing.post(
        f"/v1/sharing-grants/{factory_id}/brand-a/revoke",
        json={"reason": "end of season"},
        headers=own_factory,
    )
    assert revoked.status_code == 200
    gone = await sharing.get(f"/v1/buyers/brand-a/factories/{factory_id}/reports", headers=buyer)
    assert gone.status_code == 404

"""What the assessment API tests do again and again, through the API as a client would: register
a factory, schedule, record, complete; and what they observe: the events stored and published."""

from __future__ import annotations

from typing import Any

import httpx
import nats
from sqlalchemy import text

from libs.domain.envelope import Envelope
from services.assessment.compliance_catalogue import load_library
from services.assessment.tests.integration.conftest import AssessmentService, Headers

CATALOGUE = load_library().resolve("2025.1", "KH")
assert CATALOGUE is not None
CRITICAL = CATALOGUE.critical_question_ids
PROBLEM = "application/problem+json"


def factory_body(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "Mekong Garments",
        "country": "KH",
        "address": "Street 2004, Phnom Penh",
        "sector_isic": "1410",
        "workforce": {"women": 800, "men": 200},
    }
    return {**body, **changes}


async def register(client: httpx.AsyncClient, auth: Headers, **changes: Any) -> str:
    response = await client.post("/v1/factories", json=factory_body(**changes), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["factory_id"])


async def schedule(client: httpx.AsyncClient, auth: Headers, factory_id: str) -> str:
    response = await client.post(
        "/v1/assessments",
        json={"factory_id": factory_id, "scheduled_for": "2025-03-03", "assessors": ["a1", "a2"]},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["assessment_id"])


async def record(
    client: httpx.AsyncClient,
    auth: Headers,
    assessment_id: str,
    question_id: str,
    result: str = "compliant",
    **extra: Any,
) -> httpx.Response:
    body = {"result": result, "evidence": "seen on site" if result == "non_compliant" else ""}
    return await client.put(
        f"/v1/assessments/{assessment_id}/findings/{question_id}",
        json={**body, **extra},
        headers=auth(),
    )


async def completed_assessment(client: httpx.AsyncClient, auth: Headers, factory_id: str) -> str:
    assessment_id = await schedule(client, auth, factory_id)
    for question_id in CRITICAL:
        result = "non_compliant" if question_id == "OSH-EMP-03" else "compliant"
        assert (await record(client, auth, assessment_id, question_id, result)).status_code == 200
    response = await client.post(f"/v1/assessments/{assessment_id}/complete", headers=auth())
    assert response.status_code == 200, response.text
    return assessment_id


async def event_count(service: AssessmentService) -> int:
    async with service.engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM assessment.event")))


async def published(nats_url: str, subject_prefix: str, expected: int) -> list[Envelope]:
    """The envelopes on `<prefix>assessment.>`, read from JetStream from the start."""
    connection = await nats.connect(nats_url, connect_timeout=5)
    try:
        subscription = await connection.jetstream().subscribe(
            f"{subject_prefix}assessment.>", ordered_consumer=True
        )
        envelopes: list[Envelope] = []
        while len(envelopes) < expected:
            message = await subscription.next_msg(timeout=10)
            envelope = Envelope.from_json(message.data)
            version = f"v{envelope.schema_version}"
            assert message.subject == f"{subject_prefix}assessment.{envelope.event_name}.{version}"
            envelopes.append(envelope)
        return envelopes
    finally:
        await connection.close()


async def stream_message_count(nats_url: str, subject_prefix: str) -> int:
    connection = await nats.connect(nats_url, connect_timeout=5)
    try:
        stream = subject_prefix.replace(".", "_").upper() + "ASSESSMENT"
        info = await connection.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await connection.close()

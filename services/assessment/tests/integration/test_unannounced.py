"""Assessments are unannounced (issue 22, finding 3): scheduling and recording findings publish
nothing but `AssessmentScheduled`, which says neither when nor by whom, and which the contract
(and so the AsyncAPI document) declares as for the programme's own services, never for buyers."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import httpx
import nats
import pytest
from sqlalchemy import text

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import CRITICAL, register
from tools.asyncapi import build_document, producer_contracts

pytestmark = pytest.mark.integration

ASSESSORS = ["Sokha Chan", "Dara Keo"]
EVIDENCE = "a 14-year-old sewing on line 3"
SCHEDULED_DATA = {"assessment_id", "factory_id", "cycle", "country", "catalogue_version"}


async def drained(service: AssessmentService, timeout: float = 15) -> None:
    """Wait until the relay has taken every outbox entry and JetStream acknowledged it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with service.engine.connect() as connection:
            waiting = await connection.scalar(text("SELECT count(*) FROM assessment.outbox"))
        if waiting == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{waiting} entries never published"
        await asyncio.sleep(0.05)


async def raw_messages(nats_url: str, subject_prefix: str) -> list[tuple[str, bytes, bytes]]:
    """Every message on the service's stream: its subject, headers and body, as a consumer
    gets them."""
    connection = await nats.connect(nats_url, connect_timeout=5)
    try:
        stream = subject_prefix.replace(".", "_").upper() + "ASSESSMENT"
        jetstream = connection.jetstream()
        count = (await jetstream.stream_info(stream)).state.messages
        subscription = await jetstream.subscribe(
            f"{subject_prefix}assessment.>", ordered_consumer=True
        )
        messages = []
        for _ in range(count):
            message = await subscription.next_msg(timeout=10)
            headers = json.dumps(message.headers or {}).encode()
            messages.append((message.subject, headers, message.data))
        return messages
    finally:
        await connection.close()


class TestNothingAnnouncesAnAssessment:
    async def test_scheduling_and_recording_publish_only_a_dateless_assessment_scheduled(
        self,
        client: httpx.AsyncClient,
        auth: Headers,
        service: AssessmentService,
        nats_url: str,
        subject_prefix: str,
    ) -> None:
        staff = auth(Role.ASSESSOR, "assessor-sokha", countries=["KH"])
        factory_id = await register(client, lambda: staff)
        visit = date.today() + timedelta(days=45)
        scheduled = await client.post(
            "/v1/assessments",
            json={
                "factory_id": factory_id,
                "scheduled_for": visit.isoformat(),
                "assessors": ASSESSORS,
            },
            headers={**staff, "X-Correlation-Id": "plan-visit"},
        )
        assert scheduled.status_code == 201, scheduled.text
        path = f"/v1/assessments/{scheduled.json()['assessment_id']}/findings"
        # a zero-tolerance finding recorded, recorded again, then all of the critical ones at once
        for evidence in (EVIDENCE, f"{EVIDENCE}, confirmed"):
            one = await client.put(
                f"{path}/CHL-CHI-01",
                json={"result": "non_compliant", "evidence": evidence},
                headers=staff,
            )
            assert one.status_code == 200, one.text
        many = [{"question_id": question_id, "result": "compliant"} for question_id in CRITICAL]
        assert (
            await client.post(path, json={"findings": many[1:]}, headers=staff)
        ).status_code == 200

        await drained(service)
        messages = await raw_messages(nats_url, subject_prefix)
        assert [subject.removeprefix(subject_prefix) for subject, _, _ in messages] == [
            "assessment.FactoryRegistered.v1",
            "assessment.AssessmentScheduled.v1",
        ]
        _, headers, body = messages[1]
        for secret in (visit.isoformat(), *ASSESSORS, "assessor-sokha", "14-year-old"):
            assert secret.encode() not in headers + body, secret
        assert set(json.loads(body)["data"]) == SCHEDULED_DATA

    async def test_the_contract_says_assessment_scheduled_never_reaches_buyers(self) -> None:
        document = build_document({"assessment": producer_contracts()["assessment"]})
        message = document["components"]["messages"]["assessment.AssessmentScheduled.v1"]
        described = " ".join(message["description"].split())
        assert "never delivered to buyers" in described
        assert "programme's own services" in described

"""The assessment API against real PostgreSQL and NATS: events on their subjects, concurrency,
tenancy and roles, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from libs.domain.envelope import Envelope
from libs.servicekit.auth import Role
from services.assessment.compliance_catalogue import load_library
from services.assessment.tests.integration.conftest import Headers

pytestmark = pytest.mark.integration

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


async def event_count(app: FastAPI) -> int:
    async with app.state.store.engine.connect() as connection:
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


class TestFactories:
    async def test_register_get_update_and_list(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        created = await client.post(
            "/v1/factories",
            json=factory_body(country="BD", os_id="bd-2019257-q2jmgf"),
            headers=auth(),
        )
        assert created.status_code == 201
        assert created.headers["ETag"] == '"1"'
        factory_id = created.json()["factory_id"]
        assert created.json()["os_id"] == "BD2019257Q2JMGF"
        await register(client, auth)
        await register(client, auth, name="Second KH")

        stale = await client.patch(
            f"/v1/factories/{factory_id}", json={"name": "X"}, headers={**auth(), "If-Match": '"7"'}
        )
        assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
        updated = await client.patch(
            f"/v1/factories/{factory_id}",
            json={"name": "Dhaka Knit"},
            headers={**auth(), "If-Match": '"1"'},
        )
        assert updated.status_code == 200 and updated.headers["ETag"] == '"2"'

        page = await client.get("/v1/factories?country=KH&limit=1", headers=auth())
        assert len(page.json()["items"]) == 1
        rest = await client.get(
            f"/v1/factories?country=KH&limit=1&cursor={page.json()['next_cursor']}", headers=auth()
        )
        names = {page.json()["items"][0]["name"], rest.json()["items"][0]["name"]}
        assert names == {"Mekong Garments", "Second KH"} and rest.json()["next_cursor"] is None

    async def test_an_os_id_belongs_to_one_factory_even_under_concurrency(
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        body = factory_body(country="BD", os_id="BD2019257Q2JMGF")
        responses = await asyncio.gather(
            *(client.post("/v1/factories", json=body, headers=auth()) for _ in range(3))
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409]
        assert await event_count(app) == 1

    async def test_bad_input_is_a_problem_and_changes_nothing(
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        for bad in (
            factory_body(country="ZZ"),
            factory_body(os_id="KH2019257Q2JMGF"),
            factory_body(sector_isic="garments"),
        ):
            response = await client.post("/v1/factories", json=bad, headers=auth())
            assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
            assert response.json()["errors"]
        assert await event_count(app) == 0


class TestAssessmentLifecycle:
    async def test_events_appear_on_their_subjects_with_correct_envelopes(
        self,
        client: httpx.AsyncClient,
        auth: Headers,
        nats_url: str,
        subject_prefix: str,
    ) -> None:
        factory_id = await register(client, auth)
        assessment_id = await schedule(client, auth, factory_id)
        # a zero-tolerance non-compliance is escalated before completion
        zero = await record(client, auth, assessment_id, "CHL-CHI-01", "non_compliant")
        assert zero.status_code == 200
        for question_id in CRITICAL[1:]:
            assert (await record(client, auth, assessment_id, question_id)).status_code == 200
        done = await client.post(
            f"/v1/assessments/{assessment_id}/complete",
            headers={**auth(), "X-Correlation-Id": "corr-42"},
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed"

        # Only public events leave the service: nothing of the assessment before its completion
        # (21 recorded findings and the immediate zero-tolerance escalation stay inside).
        envelopes = await published(nats_url, subject_prefix, 5)
        types = [envelope.event_name for envelope in envelopes]
        assert types == [
            "FactoryRegistered",
            "AssessmentScheduled",
            "AssessmentCompleted",
            "NonComplianceFound",
            "ZeroToleranceIssueFound",
        ]
        for envelope in envelopes:
            assert envelope.subject == factory_id
            version = 2 if envelope.event_name == "AssessmentCompleted" else 1
            assert envelope.type == f"org.betterwork.assessment.{envelope.event_name}.v{version}"
        scheduled, completed, non_compliance, zero_tolerance = envelopes[1:]
        assert "scheduled_for" not in scheduled.data and "assessors" not in scheduled.data
        assert completed.streamid == f"assessment-{assessment_id}"
        assert completed.correlationid == "corr-42"
        assert completed.data["non_compliance_count"] == 1 and completed.data["cycle"] == 1
        results = {result["question_id"]: result for result in completed.data["results"]}
        assert set(results) == set(CRITICAL)
        assert results["CHL-CHI-01"]["result"] == "non_compliant"
        assert all(result["critical"] for result in results.values())
        assert non_compliance.data["question_id"] == "CHL-CHI-01"
        assert non_compliance.data["critical"] and non_compliance.data["zero_tolerance"]
        assert zero_tolerance.data["cluster_id"] == "CHL"
        assert zero_tolerance.streamversion == non_compliance.streamversion
        assert await stream_message_count(nats_url, subject_prefix) == 5

    async def test_many_findings_are_recorded_at_once_or_not_at_all(
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        url = f"/v1/assessments/{assessment_id}/findings"
        findings = [{"question_id": question_id, "result": "compliant"} for question_id in CRITICAL]
        findings[0] = {**findings[0], "result": "non_compliant", "evidence": "exit locked"}
        before = await event_count(app)
        unknown = await client.post(
            url,
            json={"findings": [*findings, {"question_id": "COM-PRE-BD01", "result": "compliant"}]},
            headers=auth(),
        )
        twice = await client.post(
            url, json={"findings": [findings[1], findings[1]]}, headers=auth()
        )
        assert unknown.status_code == 422 and unknown.json()["question_id"] == "COM-PRE-BD01"
        assert twice.status_code == 422 and twice.headers["content-type"] == PROBLEM
        assert await event_count(app) == before  # all or nothing

        recorded = await client.post(url, json={"findings": findings}, headers=auth())
        assert recorded.status_code == 200, recorded.text
        body = recorded.json()
        assert len(body["findings"]) == len(CRITICAL)
        assert (
            body["version"] >= 1 + len(CRITICAL)
            and recorded.headers["etag"] == f'"{body["version"]}"'
        )
        read = await client.get(f"/v1/assessments/{assessment_id}", headers=auth())
        assert read.json() == body
        stale = await client.post(
            url, json={"findings": findings[:1]}, headers={**auth(), "If-Match": '"1"'}
        )
        assert stale.status_code == 412
        completed = await client.post(f"/v1/assessments/{assessment_id}/complete", headers=auth())
        assert completed.status_code == 200  # every critical question was answered at once
        late = await client.post(url, json={"findings": findings[:1]}, headers=auth())
        assert late.status_code == 409

    async def test_a_commands_answer_is_what_a_read_after_it_returns(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        """The answer is read in the command's own transaction: the same body and ETag as a GET."""
        assessment_id = await schedule(client, auth, await register(client, auth))
        await record(client, auth, assessment_id, "OSH-EMP-01")
        answers = [
            await record(client, auth, assessment_id, "OSH-EMP-02", "non_compliant"),
            await record(client, auth, assessment_id, "OSH-EMP-01", "not_applicable"),
        ]
        for question_id in CRITICAL:
            answers.append(await record(client, auth, assessment_id, question_id))
        answers.append(
            await client.post(f"/v1/assessments/{assessment_id}/complete", headers=auth())
        )
        answers.append(
            await client.post(
                f"/v1/assessments/{assessment_id}/findings/OSH-EMP-02/corrections",
                json={"result": "non_compliant", "evidence": "log", "reason": "misread the log"},
                headers=auth(),
            )
        )
        read = await client.get(f"/v1/assessments/{assessment_id}", headers=auth())
        final = answers[-1]
        assert [answer.status_code for answer in answers[-2:]] == [200, 201], answers[-1].text
        assert final.headers["content-type"] == "application/json"
        assert final.json() == read.json() and final.headers["etag"] == read.headers["etag"]
        assert read.json()["status"] == "completed"
        versions = [answer.json()["version"] for answer in answers]
        assert versions == sorted(set(versions))  # each answer shows its own command's version
        assert [answer.headers["etag"] for answer in answers] == [f'"{v}"' for v in versions]

    async def test_completion_is_refused_while_critical_questions_are_unanswered(
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        await record(client, auth, assessment_id, "OSH-EMP-01")
        before = await event_count(app)
        response = await client.post(f"/v1/assessments/{assessment_id}/complete", headers=auth())
        assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
        unanswered = response.json()["unanswered_critical_questions"]
        assert len(unanswered) == 20 and "OSH-EMP-01" not in unanswered
        assert await event_count(app) == before

    async def test_unknown_questions_and_findings_after_completion_change_nothing(
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        factory_id = await register(client, auth)
        assessment_id = await completed_assessment(client, auth, factory_id)
        open_assessment = await schedule(client, auth, factory_id)
        before = await event_count(app)
        unknown = await record(client, auth, open_assessment, "COM-PRE-BD01")
        assert unknown.status_code == 422 and unknown.json()["question_id"] == "COM-PRE-BD01"
        late = await record(client, auth, assessment_id, "WT-LEA-01")
        assert late.status_code == 409 and late.headers["content-type"] == PROBLEM
        assert await event_count(app) == before

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
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        async def version(country: str) -> int:
            async with app.state.store.engine.connect() as connection:
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
        kept = app.state.synthesis_cache.get("KH", year, before)
        assert kept is not None and kept["assessments"] == 1  # answered from here next time
        assert await synthesis() == kept

        await completed_assessment(client, auth, await register(client, auth))
        assert await version("KH") > before
        assert app.state.synthesis_cache.get("KH", year, await version("KH")) is None
        assert (await synthesis())["assessments"] == 2


class TestConcurrency:
    async def test_two_recordings_at_one_version_give_one_success_and_one_conflict(
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        engine = app.state.store.engine
        # Hold the stream row so that both requests load version 1 and then queue on the append.
        async with engine.connect() as blocker:
            await blocker.execute(
                text("SELECT 1 FROM assessment.stream WHERE stream_id = :s FOR UPDATE"),
                {"s": f"assessment-{assessment_id}"},
            )
            requests = [
                asyncio.create_task(
                    client.put(
                        f"/v1/assessments/{assessment_id}/findings/{question_id}",
                        json={"result": "compliant"},
                        headers={**auth(), "If-Match": '"1"'},
                    )
                )
                for question_id in ("OSH-EMP-01", "OSH-EMP-02")
            ]
            async with asyncio.timeout(10):
                while await _waiting_on_locks(engine) < 2:
                    await asyncio.sleep(0.05)
            await blocker.rollback()
        responses = await asyncio.gather(*requests)
        assert sorted(r.status_code for r in responses) == [200, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.headers["content-type"] == PROBLEM
        assert await event_count(app) == 3  # registered, scheduled, one finding


async def _waiting_on_locks(engine: Any) -> int:
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


class TestAccess:
    async def test_roles_and_tenants(self, client: httpx.AsyncClient, auth: Headers) -> None:
        own = await register(client, auth)
        other = await register(client, auth, name="Other")
        own_report = await completed_assessment(client, auth, own)
        own_open = await schedule(client, auth, own)
        other_report = await completed_assessment(client, auth, other)
        factory_user = auth(Role.FACTORY, "fu", factory_id=own)
        buyer = auth(Role.BUYER, "b", buyer_id="buyer-1")

        assert (await client.get("/v1/factories")).status_code == 401
        assert (await client.get(f"/v1/factories/{own}", headers=buyer)).status_code == 403
        assert (await client.get(f"/v1/assessments/{own_report}", headers=buyer)).status_code == 403
        assert (await client.get(f"/v1/factories/{own}", headers=factory_user)).status_code == 200
        assert (await client.get(f"/v1/factories/{other}", headers=factory_user)).status_code == 404
        listed = (await client.get("/v1/factories", headers=factory_user)).json()["items"]
        assert [f["factory_id"] for f in listed] == [own]

        assert (
            await client.get(f"/v1/assessments/{own_report}", headers=factory_user)
        ).status_code == 200
        for hidden in (own_open, other_report):
            for suffix in ("", "/report", "/history"):
                response = await client.get(
                    f"/v1/assessments/{hidden}{suffix}", headers=factory_user
                )
                assert response.status_code == 404, (hidden, suffix)
                assert response.headers["content-type"] == PROBLEM
        mine = (await client.get("/v1/assessments", headers=factory_user)).json()["items"]
        assert [a["assessment_id"] for a in mine] == [own_report]
        response_to_other = await client.post(
            f"/v1/assessments/{other_report}/findings/OSH-EMP-03/responses",
            json={"text": "not ours"},
            headers=factory_user,
        )
        assert response_to_other.status_code == 404

        # factory users do not write assessments or factories; assessors do not respond for factories
        assert (
            await record(client, lambda: factory_user, own_open, "OSH-EMP-01")
        ).status_code == 403
        assert (
            await client.patch(f"/v1/factories/{own}", json={"name": "x"}, headers=factory_user)
        ).status_code == 403
        assert (
            await client.post(
                f"/v1/assessments/{own_report}/findings/OSH-EMP-03/responses",
                json={"text": "x"},
                headers=auth(),
            )
        ).status_code == 403
        assert (
            await client.get("/v1/assessments/synthesis?country=KH&year=2025", headers=factory_user)
        ).status_code == 403

    async def test_idempotency_key_replays_the_first_answer(
        self, client: httpx.AsyncClient, auth: Headers, app: FastAPI
    ) -> None:
        headers = {**auth(), "Idempotency-Key": "register-1"}
        first = await client.post("/v1/factories", json=factory_body(), headers=headers)
        again = await client.post("/v1/factories", json=factory_body(), headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["factory_id"] == again.json()["factory_id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert await event_count(app) == 1

"""An assessment through the API on real PostgreSQL and NATS: its public events on their subjects,
findings one by one or all at once, each command answered as a read after it, and completion
refused while a critical question is unanswered."""

from __future__ import annotations

import httpx
import pytest

from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import (
    CRITICAL,
    PROBLEM,
    completed_assessment,
    event_count,
    published,
    record,
    register,
    schedule,
    stream_message_count,
)

pytestmark = pytest.mark.integration


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
        # The report's credential follows, issued in the completion's transaction.
        envelopes = await published(nats_url, subject_prefix, 6)
        types = [envelope.event_name for envelope in envelopes]
        assert types == [
            "FactoryRegistered",
            "AssessmentScheduled",
            "AssessmentCompleted",
            "NonComplianceFound",
            "ZeroToleranceIssueFound",
            "ReportCredentialIssued",
        ]
        issued = envelopes.pop()
        assert issued.data["credential_id"] == envelopes[2].data["credential_id"]
        assert issued.data["revision"] == 0 and issued.data["supersedes"] is None
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
        assert await stream_message_count(nats_url, subject_prefix) == 6

    async def test_many_findings_are_recorded_at_once_or_not_at_all(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        url = f"/v1/assessments/{assessment_id}/findings"
        findings = [{"question_id": question_id, "result": "compliant"} for question_id in CRITICAL]
        findings[0] = {**findings[0], "result": "non_compliant", "evidence": "exit locked"}
        before = await event_count(service)
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
        assert await event_count(service) == before  # all or nothing

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
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        assessment_id = await schedule(client, auth, await register(client, auth))
        await record(client, auth, assessment_id, "OSH-EMP-01")
        before = await event_count(service)
        response = await client.post(f"/v1/assessments/{assessment_id}/complete", headers=auth())
        assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
        unanswered = response.json()["unanswered_critical_questions"]
        assert len(unanswered) == 20 and "OSH-EMP-01" not in unanswered
        assert await event_count(service) == before

    async def test_unknown_questions_and_findings_after_completion_change_nothing(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        factory_id = await register(client, auth)
        assessment_id = await completed_assessment(client, auth, factory_id)
        open_assessment = await schedule(client, auth, factory_id)
        before = await event_count(service)
        unknown = await record(client, auth, open_assessment, "COM-PRE-BD01")
        assert unknown.status_code == 422 and unknown.json()["question_id"] == "COM-PRE-BD01"
        late = await record(client, auth, assessment_id, "WT-LEA-01")
        assert late.status_code == 409 and late.headers["content-type"] == PROBLEM
        assert await event_count(service) == before

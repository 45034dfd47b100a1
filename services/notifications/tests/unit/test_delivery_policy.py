"""The delivery policy and what a webhook carries (pure): signatures the reference library
verifies, the retry schedule, the verdict on each attempt and which endpoints a batch condemns,
the body of a large event, the test message, trace context; and secrets at rest."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from standardwebhooks import Webhook

from libs.domain.envelope import Envelope
from services.notifications.adapters.secretbox import SecretBox
from services.notifications.domain import signing
from services.notifications.domain.delivery import (
    Attempted,
    Claimed,
    Outcome,
    Schedule,
    TokenBucket,
    endpoints_to_disable,
    judge,
    outcome_of,
    retry_after_seconds,
    trigger,
)
from services.notifications.domain.messages import (
    MAX_BODY_BYTES,
    trace_carrier,
    webhook_body,
    webhook_test_body,
)

AT = datetime(2025, 6, 2, 9, tzinfo=UTC)
SCHEDULE = Schedule((0, 5, 300), jitter=0.0)


def _attempted(
    status_code: int | None,
    *,
    round_attempts: int = 0,
    endpoint_id: str = "ep_1",
    error: str | None = None,
    retry_after: float | None = None,
) -> Attempted:
    claimed = Claimed("msg_1", endpoint_id, "https://x", b"{}", 0, round_attempts, AT, [])
    return Attempted(claimed, AT, status_code, 5, None, error, retry_after)


def test_secret_format_and_signature_verify_with_the_reference_library() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body = b'{"id":"e1"}'
    headers = signing.headers(
        [signing.secret_key(secret)], "msg_1", int(datetime.now(UTC).timestamp()), body
    )
    assert Webhook(secret).verify(body, headers) == {"id": "e1"}
    with pytest.raises(ValueError):
        signing.new_secret(16)


def test_retry_policy() -> None:
    schedule = Schedule((0, 5, 300), jitter=0.2)
    assert schedule.delay_after(3) is None
    assert 4 <= (schedule.delay_after(1) or 0) <= 6
    assert schedule.delay_after(1, retry_after=60) == 60
    assert outcome_of(204) is Outcome.SUCCEEDED
    assert outcome_of(410) is Outcome.GONE
    assert outcome_of(302) is Outcome.RETRY and outcome_of(500) is Outcome.RETRY
    assert retry_after_seconds(429, "7") == 7 and retry_after_seconds(500, "7") is None
    assert retry_after_seconds(503, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


class TestVerdicts:
    def test_a_2xx_succeeds(self) -> None:
        verdict = judge(_attempted(204), SCHEDULE)
        assert (verdict.status, verdict.next_attempt_at, verdict.error) == ("succeeded", None, None)
        assert verdict.disabling is None

    def test_a_failure_is_retried_on_the_schedule_and_retry_after_stretches_it(self) -> None:
        verdict = judge(_attempted(500), SCHEDULE)
        assert (verdict.status, verdict.error) == ("pending", "HTTP 500")
        assert verdict.next_attempt_at == AT + timedelta(seconds=5)
        later = judge(_attempted(429, retry_after=60), SCHEDULE)
        assert later.next_attempt_at == AT + timedelta(seconds=60)

    def test_no_answer_keeps_its_own_error(self) -> None:
        verdict = judge(_attempted(None, error="no answer within 3 s"), SCHEDULE)
        assert (verdict.outcome, verdict.status) == (Outcome.RETRY, "pending")
        assert verdict.error == "no answer within 3 s"

    def test_a_spent_schedule_fails_the_message_and_condemns_the_endpoint(self) -> None:
        verdict = judge(_attempted(500, round_attempts=2), SCHEDULE)
        assert (verdict.status, verdict.next_attempt_at) == ("failed", None)
        assert verdict.disabling is not None
        assert (verdict.disabling.reason, verdict.disabling.since) == ("failing", AT)

    def test_410_fails_at_once_and_condemns_the_endpoint(self) -> None:
        verdict = judge(_attempted(410), SCHEDULE)
        assert verdict.status == "failed" and verdict.disabling is not None
        assert verdict.disabling.reason == "gone"

    def test_one_case_per_endpoint_and_gone_wins(self) -> None:
        batch = [
            _attempted(500, round_attempts=2),
            _attempted(410),
            _attempted(500, round_attempts=2, endpoint_id="ep_2"),
            _attempted(200, endpoint_id="ep_3"),
        ]
        condemned = endpoints_to_disable((a, judge(a, SCHEDULE)) for a in batch)
        assert {e: d.reason for e, d in condemned.items()} == {"ep_1": "gone", "ep_2": "failing"}

    def test_a_redelivery_first_attempt_is_manual(self) -> None:
        claimed = _attempted(200).claimed
        assert trigger(claimed) == "scheduled"
        claimed.attempts = 4  # sent before, its round started again
        assert trigger(claimed) == "manual"
        claimed.round_attempts = 1
        assert trigger(claimed) == "scheduled"


def test_an_endpoints_rate_allows_a_burst_then_refills() -> None:
    bucket = TokenBucket(2.0)
    assert bucket.take() and bucket.take() and not bucket.take()
    bucket.updated -= 0.5  # half a second later: one more
    assert bucket.take() and not bucket.take()


def _envelope(data: dict[str, object]) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source="/betterwork/assessment",
        type="org.betterwork.assessment.AssessmentCompleted.v2",
        subject="fac-1",
        time=AT,
        data=data,
        correlationid=str(uuid.uuid4()),
        streamid="assessment-a-1",
        streamversion=3,
    )


def test_a_large_event_is_sent_as_a_reference_to_its_resource() -> None:
    small = _envelope({"factory_id": "fac-1", "assessment_id": "a-1"})
    published = json.loads(small.to_json())
    # the document as published, less the producer's stream positions (issue 22, finding 3)
    assert json.loads(webhook_body(small)) == {
        name: value
        for name, value in published.items()
        if name not in {"streamid", "streamversion"}
    }
    large = _envelope({"factory_id": "fac-1", "assessment_id": "a-1", "x": "y" * MAX_BODY_BYTES})
    document = json.loads(webhook_body(large))
    assert document["id"] == large.id
    assert not {"streamid", "streamversion"} & set(document)
    assert document["data"] == {
        "factory_id": "fac-1",
        "assessment_id": "a-1",
        "truncated": True,
        "href": "/v1/assessments/a-1",
    }


def test_a_large_completed_report_keeps_its_credential_id() -> None:
    """The webhook of a completed report names its credential (issue 20), however large: the
    buyer fetches it from buyer sharing by factory, assessment and credential id."""
    credential = "urn:uuid:2b0f5d8e-6c1a-5b7e-9d3f-0a4c8e1b2d6f"
    results = [{"question_id": f"Q{n}", "result": "compliant"} for n in range(600)]
    large = _envelope(
        {"factory_id": "fac-1", "assessment_id": "a-1", "credential_id": credential,
         "results": results}
    )  # fmt: skip
    assert len(large.to_json()) > MAX_BODY_BYTES
    assert json.loads(webhook_body(large))["data"] == {
        "factory_id": "fac-1",
        "assessment_id": "a-1",
        "credential_id": credential,
        "truncated": True,
        "href": "/v1/assessments/a-1",
    }
    small = _envelope({"factory_id": "fac-1", "assessment_id": "a-1", "credential_id": credential})
    assert json.loads(webhook_body(small))["data"]["credential_id"] == credential


def test_the_test_message_and_trace_context() -> None:
    document = json.loads(webhook_test_body("msg_1", "ep_1", AT))
    assert document["type"] == "org.betterwork.notifications.WebhookTest.v1"
    assert (document["id"], document["subject"], document["data"]["endpoint_id"]) == (
        "msg_1",
        "ep_1",
        "ep_1",
    )
    assert trace_carrier(b'{"traceparent":"00-abc-def-01"}') == {"traceparent": "00-abc-def-01"}
    assert trace_carrier(b'{"traceparent": 1}') == {} and trace_carrier(b"[") == {}
    assert trace_carrier(b'"traceparent"') == {}


def test_secrets_at_rest_are_encrypted_and_keys_rotate() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox([old]).seal("whsec_abc")
    assert b"whsec_abc" not in sealed
    assert SecretBox([new, old]).open(sealed) == "whsec_abc"
    with pytest.raises(ValueError):
        SecretBox([new]).open(sealed)

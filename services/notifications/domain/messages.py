"""What a webhook carries (pure): the upstream event's CloudEvents document as published, less
the producer's internal stream positions (a small one that refers to the REST resource past
20 kB, keeping the assessment and credential ids), the test message's document, and the trace
context a body carries on."""

from __future__ import annotations

import json
from datetime import datetime

from libs.domain.envelope import Envelope

MAX_BODY_BYTES = 20_000
TEST_EVENT_TYPE = "org.betterwork.notifications.WebhookTest.v1"
# CloudEvents extension attributes that stay inside the programme: the aggregate stream and its
# version tell how many internal events (drafts, a scheduled assessment) came before this one
INTERNAL_ATTRIBUTES = frozenset({"streamid", "streamversion"})
KEPT_WHEN_TRUNCATED = ("assessment_id", "credential_id")


def _public_json(envelope: Envelope) -> bytes:
    return envelope.model_dump_json(exclude_none=True, exclude=set(INTERNAL_ATTRIBUTES)).encode()


def webhook_body(envelope: Envelope) -> bytes:
    """The CloudEvents document as published, without the internal stream positions; past
    20 kB, a small document that refers to the factory's REST resource instead of carrying the
    data (with the assessment and credential ids the data names)."""
    body = _public_json(envelope)
    if len(body) < MAX_BODY_BYTES:
        return body
    data = envelope.data
    factory = data.get("factory_id")
    if data.get("assessment_id"):
        href = f"/v1/assessments/{data['assessment_id']}"
    elif factory:
        href = f"/v1/factories/{factory}"
    else:
        href = None
    # the identifiers a buyer acts on stay: a completed report's credential (issue 20) is fetched
    # from buyer sharing by factory, assessment and credential id
    kept = {name: data[name] for name in KEPT_WHEN_TRUNCATED if data.get(name)}
    small = envelope.model_copy(
        update={"data": {"factory_id": factory, **kept, "truncated": True, "href": href}}
    )
    return _public_json(small)


def webhook_test_body(message_id: str, endpoint_id: str, at: datetime) -> bytes:
    """A CloudEvents document of type WebhookTest, for a buyer to try its receiver."""
    document = {
        "specversion": "1.0",
        "id": message_id,
        "source": "/betterwork/notifications",
        "type": TEST_EVENT_TYPE,
        "subject": endpoint_id,
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": {"endpoint_id": endpoint_id, "message": "a test message"},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def trace_carrier(payload: bytes) -> dict[str, str]:
    """`{"traceparent": …}` of a CloudEvents body, or nothing (no trace, or not our document)."""
    if b'"traceparent"' not in payload:
        return {}
    try:
        document = json.loads(payload)
    except ValueError:
        return {}
    traceparent = document.get("traceparent") if isinstance(document, dict) else None
    return {"traceparent": traceparent} if isinstance(traceparent, str) else {}

"""The WebhookEndpoint aggregate, signing, the retry policy and secrets at rest (pure)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from standardwebhooks import Webhook

from services.notifications import endpoint as ep
from services.notifications import signing
from services.notifications.contract import CONTRACT
from services.notifications.delivery import Outcome, Schedule, outcome_of, retry_after_seconds
from services.notifications.errors import EndpointDeleted, NotFound
from services.notifications.secretbox import SecretBox

AT = datetime(2025, 6, 2, 9, tzinfo=UTC)


def _registered() -> ep.Endpoint:
    [event] = ep.register(
        ep.Endpoint(),
        endpoint_id="ep_1",
        buyer_id="brand-a",
        url="https://hooks.example/x",
        event_types=("AssessmentCompleted",),
        factory_ids=None,
        description="",
        secret_id="sec_1",
        secret_fingerprint="f",
        by="u",
        at=AT,
    )
    return ep.ENDPOINT.fold([event])


def test_register_then_disable_publishes_webhook_endpoint_disabled() -> None:
    state = _registered()
    assert state.enabled and state.buyer_id == "brand-a"
    [disabled] = ep.disable(state, endpoint_id="ep_1", reason="gone", detail="410", by="n", at=AT)
    [public] = CONTRACT.translate(disabled, None)
    assert public.model_dump() == {
        "endpoint_id": "ep_1",
        "buyer_id": "brand-a",
        "reason": "gone",
        "disabled_at": AT,
    }
    assert (
        ep.disable(
            ep.evolve(state, disabled), endpoint_id="ep_1", reason="gone", detail="", by="n", at=AT
        )
        == []
    )


def test_update_changes_only_what_was_given_and_toggles_enabled() -> None:
    state = _registered()
    events = ep.update(
        state,
        endpoint_id="ep_1",
        url=None,
        event_types=("NonComplianceFound",),
        factory_ids=None,
        factory_ids_given=False,
        description=None,
        enabled=False,
        by="u",
        at=AT,
    )
    assert [type(e).__name__ for e in events] == [
        "WebhookEndpointUpdated",
        "WebhookEndpointDisabled",
    ]
    after = ep.ENDPOINT.fold(events, state)
    assert after.event_types == ("NonComplianceFound",) and not after.enabled


def test_deleted_and_unknown_endpoints_refuse_commands() -> None:
    with pytest.raises(NotFound):
        ep.delete(ep.Endpoint(), endpoint_id="x", by="u", at=AT)
    deleted = ep.ENDPOINT.fold(
        ep.delete(_registered(), endpoint_id="ep_1", by="u", at=AT), _registered()
    )
    with pytest.raises(EndpointDeleted):
        ep.rotate_secret(
            deleted,
            endpoint_id="ep_1",
            secret_id="s2",
            secret_fingerprint="g",
            previous_valid_until=AT,
            by="u",
            at=AT,
        )


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


def test_secrets_at_rest_are_encrypted_and_keys_rotate() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox([old]).seal("whsec_abc")
    assert b"whsec_abc" not in sealed
    assert SecretBox([new, old]).open(sealed) == "whsec_abc"
    with pytest.raises(ValueError):
        SecretBox([new]).open(sealed)

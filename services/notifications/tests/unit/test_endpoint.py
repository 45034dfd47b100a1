"""The WebhookEndpoint aggregate and its rules (pure): given its events, when a decision runs,
then these events; the rules the handlers check around the decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.domain.aggregate import Loaded
from libs.domain.errors import NotFound
from services.notifications.contract import CONTRACT
from services.notifications.domain import endpoint as ep
from services.notifications.errors import (
    EndpointDeleted,
    EndpointDisabled,
    OverlapOutOfRange,
    UnknownEventTypes,
)

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


def test_a_deleted_endpoint_refuses_domain_changes_as_deleted() -> None:
    """The aggregate's own guard behind the handlers' 404 (EndpointDeleted is a NotFound)."""
    state = ep.ENDPOINT.fold(
        ep.delete(_registered(), endpoint_id="ep_1", by="u", at=AT), _registered()
    )
    with pytest.raises(EndpointDeleted):
        ep.delete(state, endpoint_id="ep_1", by="u", at=AT)
    with pytest.raises(EndpointDeleted):
        ep.update(
            state,
            endpoint_id="ep_1",
            url=None,
            event_types=None,
            factory_ids=None,
            factory_ids_given=False,
            description="x",
            enabled=None,
            by="u",
            at=AT,
        )
    assert issubclass(EndpointDeleted, NotFound)
    assert ep.disable(state, endpoint_id="ep_1", reason="gone", detail="", by="n", at=AT) == []


def test_registering_the_same_id_again_decides_nothing() -> None:
    assert (
        ep.register(
            _registered(),
            endpoint_id="ep_1",
            buyer_id="brand-b",
            url="https://hooks.example/y",
            event_types=("AssessmentCompleted",),
            factory_ids=None,
            description="",
            secret_id="sec_2",
            secret_fingerprint="g",
            by="u",
            at=AT,
        )
        == []
    )


class TestRules:
    def test_event_types_must_be_deliverable_and_repeats_go(self) -> None:
        assert ep.checked_event_types(
            ("AssessmentCompleted", "SharingRevoked", "AssessmentCompleted")
        ) == ("AssessmentCompleted", "SharingRevoked")
        with pytest.raises(UnknownEventTypes) as refused:
            ep.checked_event_types(("Nope", "AssessmentCompleted", "Also"))
        assert refused.value.extensions["unknown"] == ["Also", "Nope"]

    def test_the_advisory_events_are_deliverable(self) -> None:
        """Issue 18: a buyer may subscribe to advisory's two public events, and they are
        among the known types a refusal lists."""
        advisory = ("TrainingSessionDelivered", "AdvisoryVisitCompleted")
        assert ep.checked_event_types(advisory) == advisory
        with pytest.raises(UnknownEventTypes) as refused:
            ep.checked_event_types(("Nope",))
        assert set(advisory) <= set(refused.value.extensions["known"])

    @pytest.mark.parametrize(
        ("overlap", "fine"), [(0, True), (604800, True), (-1, False), (604801, False)]
    )
    def test_a_rotation_overlaps_for_at_most_seven_days(self, overlap: int, fine: bool) -> None:
        if fine:
            assert ep.rotation_overlap_ends(AT, overlap) == AT + timedelta(seconds=overlap)
        else:
            with pytest.raises(OverlapOutOfRange) as refused:
                ep.rotation_overlap_ends(AT, overlap)
            assert refused.value.extensions == {"maximum": 604800}

    def test_only_the_owner_or_an_admin_reaches_a_live_endpoint(self) -> None:
        live = Loaded("ep_1", _registered(), 1)
        ep.owned_by("brand-a", "ep_1")(live)
        ep.owned_by(None, "ep_1")(live)
        deleted = Loaded(
            "ep_1",
            ep.evolve(_registered(), *ep.delete(_registered(), endpoint_id="ep_1", by="u", at=AT)),
            2,
        )
        for caller, loaded in (
            ("brand-b", live),
            (None, deleted),
            ("brand-a", Loaded("ep_1", ep.Endpoint(), 0)),
        ):
            with pytest.raises(NotFound, match="webhook endpoint ep_1 not found"):
                ep.owned_by(caller, "ep_1")(loaded)

    def test_sending_needs_an_enabled_endpoint(self) -> None:
        ep.require_enabled(_registered(), "ep_1")
        [disabled] = ep.disable(
            _registered(), endpoint_id="ep_1", reason="manual", detail="", by="u", at=AT
        )
        with pytest.raises(EndpointDisabled, match="ep_1 is disabled: enable it first"):
            ep.require_enabled(ep.evolve(_registered(), disabled), "ep_1", ": enable it first")

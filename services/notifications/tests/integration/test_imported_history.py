"""Issue 19: imported history is not news. An upstream event marked `importedfrom` (a programme's
past brought in from a history bundle, or what another service appended in reaction to it) is
queued for no endpoint, held for no grant and enters no message log, while the read models it
feeds are updated as for a live event: a grant imported as still in force lets the buyer receive
the next live event, an imported revocation keeps it from it. Each test ends with a live event
behind the imported ones on the same stream, so "nothing was sent" is checked after the consumer
applied them, not after a wait. Real PostgreSQL and NATS, a receiver on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from libs.domain.envelope import Envelope
from services.notifications.tests.integration.conftest import Running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

BUNDLE = "kh-history-2001-2010"
PAST = datetime(2006, 5, 20, 12, tzinfo=UTC)
CONSUMED = "SELECT count(*) FROM {S}.inbox WHERE event_id = :id"
MESSAGES_OF = "SELECT count(*) FROM {S}.message WHERE event_id = :id"
HELD_OF = "SELECT count(*) FROM {S}.held_event WHERE event_id = :id"


def imported(envelope: Envelope, at: datetime = PAST, **data: Any) -> Envelope:
    """`envelope` as its producer publishes an imported fact: at its business time, recorded
    now, from the bundle."""
    return envelope.model_copy(
        update={
            "time": at,
            "recordedtime": datetime.now(UTC),
            "importedfrom": BUNDLE,
            "data": {**envelope.data, **data},
        }
    )


def received_ids(receiver: Receiver) -> list[str]:
    return [json.loads(request.body)["id"] for request in receiver.requests]


async def assert_not_news(service: Running, *envelopes: Envelope) -> None:
    """Each was consumed, and left no message and no held copy."""
    for envelope in envelopes:
        assert await service.scalar(CONSUMED, id=envelope.id) == 1, envelope.event_name
        assert await service.scalar(MESSAGES_OF, id=envelope.id) == 0, envelope.event_name
        assert await service.scalar(HELD_OF, id=envelope.id) == 0, envelope.event_name


async def test_an_imported_assessment_is_not_sent_while_a_live_one_is(service: Running) -> None:
    async with Receiver() as receiver:
        endpoint = await service.register("brand-a", receiver.url(), ["AssessmentCompleted"])
        await service.granted("fac-1", "brand-a")
        past = imported(service.upstream.completed("fac-1"), report_date="2006-05-20")
        live = service.upstream.completed("fac-1")
        await service.publish(past, live)
        await receiver.wait_for(lambda: live.id in received_ids(receiver))
        await service.wait_until(CONSUMED, 1, id=past.id)

        await assert_not_news(service, past)
        assert received_ids(receiver) == [live.id]
        assert await service.scalar("SELECT count(*) FROM {S}.message") == 1
        # the buyer's message log has the live event only
        listed = await service.client.get(
            "/v1/messages",
            params={"endpoint_id": endpoint["endpoint_id"]},
            headers=service.buyer("brand-a"),
        )
        assert listed.status_code == 200
        assert [message["event_id"] for message in listed.json()["items"]] == [live.id]


async def test_an_imported_grant_in_force_lets_the_next_live_event_through(
    service: Running,
) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url(), ["AssessmentCompleted", "SharingGranted"])
        grant = imported(
            service.upstream.granted("fac-1", "brand-a"),
            at=datetime(2004, 1, 5, 12, tzinfo=UTC),
            granted_at="2004-01-05T12:00:00+00:00",
        )
        await service.publish(grant)
        await service.wait_until(
            "SELECT count(*) FROM {S}.grant_event WHERE factory_id = 'fac-1' "
            "AND buyer_id = 'brand-a' AND kind = 'granted' AND at = :at",
            1,
            at=datetime(2004, 1, 5, 12, tzinfo=UTC),
        )
        live = service.upstream.completed("fac-1")
        await service.publish(live)
        await receiver.wait_for(lambda: live.id in received_ids(receiver))

        # the grant itself is history: recorded, not announced to the buyer it names
        await assert_not_news(service, grant)
        assert received_ids(receiver) == [live.id]


async def test_an_imported_revocation_is_applied_too(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url(), ["AssessmentCompleted"])
        grant = imported(
            service.upstream.granted("fac-1", "brand-a"),
            at=datetime(2004, 1, 5, 12, tzinfo=UTC),
            granted_at="2004-01-05T12:00:00+00:00",
        )
        revocation = imported(
            service.upstream.revoked("fac-1", "brand-a"),
            at=datetime(2008, 3, 1, 12, tzinfo=UTC),
            revoked_at="2008-03-01T12:00:00+00:00",
        )
        await service.publish(grant, revocation)
        await service.wait_until(
            "SELECT string_agg(kind, ',' ORDER BY version) FROM {S}.grant_event "
            "WHERE factory_id = 'fac-1' AND buyer_id = 'brand-a'",
            "granted,revoked",
        )
        live = service.upstream.completed("fac-1")
        await service.publish(live)
        # no grant in force: the live event waits for one (held), and nothing is sent
        await service.wait_until(HELD_OF, 1, id=live.id)
        await assert_not_news(service, grant, revocation)
        assert await service.scalar(MESSAGES_OF, id=live.id) == 0
        assert receiver.requests == []


async def test_what_another_service_derived_from_imported_history_is_not_sent(
    service: Running,
) -> None:
    """Remediation's plan of an imported assessment, published in the past: its events carry
    `importedfrom` (libs.domain.envelope.consumed_context), and pass the publication gate, yet
    are not news; the plan's next live change is."""
    async with Receiver() as receiver:
        await service.register(
            "brand-a", receiver.url(), ["ImprovementPlanPublished", "ImprovementPlanUpdated"]
        )
        await service.granted("fac-1", "brand-a")
        published = imported(
            service.upstream.plan_published("fac-1"), published_at="2006-07-01T12:00:00+00:00"
        )
        updated = imported(service.upstream.plan_updated("fac-1", published=True))
        live = service.upstream.plan_updated("fac-1", published=True, root_cause="a live one")
        await service.publish(published, updated, live)
        await receiver.wait_for(lambda: live.id in received_ids(receiver))
        await service.wait_until(CONSUMED, 1, id=updated.id)

        await assert_not_news(service, published, updated)
        assert received_ids(receiver) == [live.id]


async def test_an_imported_reliance_is_not_sent_to_the_buyer_it_names(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url(), ["AuditRelianceDeclared"])

        def declared() -> Envelope:
            return service.upstream.envelope(
                "buyer_sharing",
                "AuditRelianceDeclared",
                "reliance-brand-a",
                "fac-1",
                {
                    "buyer_id": "brand-a",
                    "factory_id": "fac-1",
                    "period_start": date(2006, 1, 1).isoformat(),
                    "period_end": date(2006, 12, 31).isoformat(),
                },
            )

        past, live = imported(declared()), declared()
        await service.publish(past, live)
        await receiver.wait_for(lambda: live.id in received_ids(receiver))
        await service.wait_until(CONSUMED, 1, id=past.id)

        await assert_not_news(service, past)
        assert received_ids(receiver) == [live.id]

"""Issue 22, finding 2: buyers receive no plan drafts. Before the factory publishes its plan, an
`ImprovementPlanUpdated` (its progress says `published=false`, or it says nothing of it) is queued
for no buyer; the publication (`ImprovementPlanPublished`, with whatever the published plan
carries) is, and so are the changes of a published plan. Real PostgreSQL and NATS, a receiver on
127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.notifications.tests.integration.conftest import Running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)


def ids(receiver: Receiver) -> list[str]:
    return [json.loads(request.body)["id"] for request in receiver.requests]


PLAN_EVENTS = ["ImprovementPlanUpdated", "ImprovementPlanPublished", "AssessmentCompleted"]


async def test_a_draft_reaches_no_buyer_and_the_published_plan_does(service: Running) -> None:
    async with Receiver() as receiver:
        await service.register("brand-a", receiver.url(), PLAN_EVENTS)
        await service.granted("fac-1", "brand-a")
        drafts = [
            service.upstream.plan_updated("fac-1", published=False, root_cause="DRAFT-shouting"),
            service.upstream.plan_updated("fac-1", published=None, root_cause="DRAFT-no-progress"),
        ]
        await service.publish(*drafts)
        # an event after the drafts on another stream: once it is delivered, the drafts were
        # consumed (and would have been queued) long before
        marker = service.upstream.completed("fac-1")
        await service.publish(marker)
        await receiver.wait_for(lambda: marker.id in ids(receiver))
        await service.wait_until(
            "SELECT count(*) FROM {S}.inbox WHERE event_id = ANY(:ids)",
            2,
            ids=[draft.id for draft in drafts],
        )
        await asyncio.sleep(0.3)
        assert ids(receiver) == [marker.id]
        assert (
            await service.scalar(
                "SELECT count(*) FROM {S}.message WHERE event_type = 'ImprovementPlanUpdated'"
            )
            == 0
        )

        published = service.upstream.plan_published("fac-1", root_cause="the published cause")
        after = service.upstream.plan_updated("fac-1", published=True, root_cause="a later cause")
        await service.publish(published, after)
        await receiver.wait_for(lambda: after.id in ids(receiver))
        await asyncio.sleep(0.3)
        bodies = [json.loads(r.body) for r in receiver.requests]
        assert [body["id"] for body in bodies] == [marker.id, published.id, after.id]
        assert bodies[1]["data"]["items"][0]["root_cause"] == "the published cause"
        assert bodies[2]["data"]["progress"]["published"] is True
        assert "DRAFT-" not in json.dumps(bodies)

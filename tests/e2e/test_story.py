"""End to end, the five services as separate processes (as `bw.py up` runs them), real PostgreSQL
and NATS JetStream, the buyer's webhook receiver on 127.0.0.1 verifying every signature with
`standardwebhooks`: the whole story (see `tools/demo/story.py`, which checks every step: the
report, the publication gate, the plan's publication and work, the training and advisory work and
what the buyer, remediation and the public see of it, the revocation), then the same story with
one service killed (kill -9) and restarted in the middle; and `bw.py demo` run as a newcomer
would, against the same running system."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import pytest

from tests.e2e.conftest import JWT_SECRET, urls_of
from tools.demo.receiver import WebhookReceiver
from tools.demo.story import Outcome, Story
from tools.devstack.config import REPO_ROOT
from tools.devstack.stack import Devstack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# What the buyer receives, under the publication gate: the report (AssessmentCompleted and one
# NonComplianceFound per non-compliance, 3) at once; none of the plan's drafts (the items added,
# the critical item's root cause and action); the published plan (ImprovementPlanPublished, with
# its content); then the published critical item in progress, done and verified (three
# ImprovementPlanUpdated) and RemediationVerified; and the training session's delivery and the
# advisory visit's completion at the factory.
EXPECTED = Counter(
    AssessmentCompleted=1,
    NonComplianceFound=3,
    ImprovementPlanPublished=1,
    ImprovementPlanUpdated=3,
    RemediationVerified=1,
    TrainingSessionDelivered=1,
    AdvisoryVisitCompleted=1,
)


def _print(who: str, what: str) -> None:
    print(f"story | {who:<14} {what}", flush=True)


def assert_delivered_once_each(outcome: Outcome, receiver: WebhookReceiver) -> None:
    assert Counter(delivery.event_name for delivery in outcome.received) == EXPECTED
    assert outcome.expected == EXPECTED
    assert not receiver.rejected  # every request carried a valid signature
    webhook_ids = [delivery.webhook_id for delivery in outcome.received]
    event_ids = [delivery.event["id"] for delivery in outcome.received]
    assert len(set(webhook_ids)) == len(webhook_ids) == len(set(event_ids))
    assert {delivery.event["subject"] for delivery in outcome.received} == {outcome.factory_id}


async def test_the_whole_story_and_the_demo(system: Devstack) -> None:
    async with WebhookReceiver() as receiver:
        urls = urls_of(system)
        outcome = await Story(urls, JWT_SECRET, receiver, _print).play()
        assert_delivered_once_each(outcome, receiver)
        completed = next(d for d in outcome.received if d.event_name == "AssessmentCompleted")
        assert completed.event["data"]["assessment_id"] == outcome.assessment_id

        # the demo a newcomer runs, as its own process, against the same running system
        demo = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tools.demo",
            *("--assessment-url", urls.assessment, "--remediation-url", urls.remediation),
            *("--buyer-sharing-url", urls.buyer_sharing),
            *("--notifications-url", urls.notifications, "--advisory-url", urls.advisory),
            *("--jwt-secret", JWT_SECRET),
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(demo.communicate(), timeout=90)
        text = output.decode()
        print(text)
        assert demo.returncode == 0, text
        for line in (
            "POST assessment/v1/factories → 201",
            "POST notifications/v1/webhook-endpoints → 201",
            "received AssessmentCompleted",
            "received ImprovementPlanPublished with 3 items",
            "received RemediationVerified",
            "POST advisory/v1/training-sessions → 201",
            "sign-in sheet of 12 lines in one request",
            "session delivered",
            "participants trained",
            "the buyer's report request is a 404",
            f"Done: the buyer applied {sum(EXPECTED.values())} signed messages",
        ):
            assert line in text
        assert "Traceback" not in text and "CancelledError" not in text


async def _kill_and_restart(stack: Devstack, name: str) -> None:
    await stack.kill_service(name)
    await stack.start_service(name)


@pytest.mark.parametrize(
    ("service", "step"),
    [
        # right after it acknowledged the completion: its outbox may not be relayed yet
        ("assessment", "completed"),
        # while it turns the completion into a plan
        ("remediation", "completed"),
        # while it fans out and delivers the report's messages
        ("notifications", "completed"),
        # between the grant and the assessment, with the buyers' consent in its hands
        ("buyer_sharing", "registered"),
        # right after it acknowledged the session's delivery: its outbox may not be relayed yet
        ("advisory", "delivered"),
    ],
)
async def test_the_story_survives_a_kill_9_in_the_middle(
    system: Devstack, service: str, step: str
) -> None:
    killed: list[str] = []

    async def pause(at: str) -> None:
        if at == step:
            _print("test", f"kill -9 {service}, then start it again")
            await _kill_and_restart(system, service)
            killed.append(service)

    async with WebhookReceiver() as receiver:
        story = Story(urls_of(system), JWT_SECRET, receiver, _print, pause=pause)
        outcome = await story.play()
    assert killed == [service]
    assert_delivered_once_each(outcome, receiver)

"""The system on a 3-node JetStream cluster (`bw.py up --nats-cluster 3`): the services get every
node's URL and create their streams with 3 replicas; one node is killed (SIGKILL) in the middle
of the end-to-end story, and restarted later: the buyer still receives every message, once in
effect, and every read model is complete (the story checks each step)."""

from __future__ import annotations

import nats
import pytest

from libs.events.nats import stream_name
from tests.e2e.conftest import JWT_SECRET, running_system, urls_of
from tests.e2e.test_story import _print, assert_delivered_once_each
from tools.demo.receiver import WebhookReceiver
from tools.demo.story import Story
from tools.embedded import EmbeddedNatsCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SERVICES = ("assessment", "remediation", "buyer_sharing", "notifications", "advisory")


async def test_a_node_lost_mid_story_loses_and_duplicates_nothing(
    nats_cluster: EmbeddedNatsCluster,
    database_url: str,
    subject_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert nats_cluster.url.count(",") == 2  # the services are given all three nodes
    events: list[str] = []

    async def pause(step: str) -> None:
        # the first node is the one every service knows first: lose it right after the
        # completion (outboxes relaying, consumers fanning out), bring it back after the
        # verification, so that the plan, portfolio and webhooks happen on two nodes
        if step == "completed":
            _print("test", "kill -9 nats-1")
            nats_cluster.kill(0)
            events.append("killed")
        elif step == "verified":
            _print("test", "restart nats-1")
            nats_cluster.restart_node(0)
            events.append("restarted")

    async with (
        running_system(
            tmp_path_factory.mktemp("cluster"),
            database_url,
            nats_cluster.url,
            subject_prefix,
            BW_STREAM_REPLICAS="3",
        ) as stack,
        WebhookReceiver() as receiver,
    ):
        story = Story(urls_of(stack), JWT_SECRET, receiver, _print, pause=pause, wait_seconds=90)
        outcome = await story.play()

    assert events == ["killed", "restarted"]
    assert_delivered_once_each(outcome, receiver)
    client = await nats.connect(nats_cluster.url.split(","), connect_timeout=5)
    try:
        jetstream = client.jetstream(timeout=5)
        for service in SERVICES:
            info = await jetstream.stream_info(stream_name(subject_prefix, service))
            assert info.config.num_replicas == 3, service
    finally:
        await client.close()

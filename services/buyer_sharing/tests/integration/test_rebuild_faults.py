"""The rebuild meets NATS faults while it reads the upstream streams (a real server of the test's
own, restarted or stopped in the middle of the reading): restarted, the rebuild goes on from the
last message it read and gives the rows the live consumers built; a stream it cannot read to the
end makes it fail and change nothing. Never a short read committed as if it were the history."""

from __future__ import annotations

from collections import Counter

import pytest

from libs.domain.envelope import Envelope
from libs.servicekit.service import Progress, RebuildContext
from services.buyer_sharing import rebuild
from services.buyer_sharing.rebuild import RebuildIncomplete, RebuildReport
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tests.integration.conftest import Service, Upstream, poll
from services.buyer_sharing.tests.integration.test_portfolio import snapshot, two_cycles
from tools.embedded import EmbeddedNats

FACTORIES = 40
# messages per fetch: many fetches, so the fault lands in the middle of the reading
SMALL_BATCH = 25


@pytest.fixture
def settings(migrated_database: str, restartable_nats: EmbeddedNats) -> BuyerSharingSettings:
    return BuyerSharingSettings(
        database_url=migrated_database, nats_url=restartable_nats.url, subject_prefix="rbf."
    )


async def published_and_applied(service: Service, upstream: Upstream) -> list[Envelope]:
    envelopes = [e for n in range(FACTORIES) for e in two_cycles(upstream, f"rf{n:02d}")]
    await service.publish(envelopes)
    await poll(service.caught_up, timeout=60)
    return envelopes


def fault_once(action: object, after: int) -> Progress:
    """A progress callback that runs `action` (blocking the loop while the server goes down, as
    a crash would land between two fetches) once the upstream reading has passed `after`."""
    done = False

    def progress(phase: str, read: int, _total: int) -> None:
        nonlocal done
        if not done and phase in ("assessment", "remediation") and read >= after:
            done = True
            action()  # type: ignore[operator]

    return progress


async def rebuild_with(service: Service, progress: Progress) -> RebuildReport:
    """The service definition's rebuild, on a NATS connection of its own (as the command line's)."""
    assembled = service.assembled
    return await rebuild.rebuild(
        RebuildContext(service.settings, assembled.engine, assembled.registry, progress)
    )


async def test_nats_restarted_mid_read_the_rebuild_goes_on_and_equals_live(
    service: Service,
    upstream: Upstream,
    restartable_nats: EmbeddedNats,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rebuild, "FETCH_BATCH", SMALL_BATCH)
    envelopes = await published_and_applied(service, upstream)
    live = await snapshot(service)

    report = await rebuild_with(service, fault_once(restartable_nats.restart, 4 * SMALL_BATCH))

    published = Counter(envelope.service for envelope in envelopes)
    read = Counter(
        {
            service_name: report.upstream_events[service_name]
            + report.upstream_skipped.get(service_name, 0)
            for service_name in report.upstream_events
        }
    )
    assert read == published  # every message once: none skipped over, none read twice
    assert await snapshot(service) == live


async def test_a_stream_that_cannot_be_read_to_the_end_fails_the_rebuild_and_changes_nothing(
    service: Service,
    upstream: Upstream,
    restartable_nats: EmbeddedNats,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rebuild, "FETCH_BATCH", SMALL_BATCH)
    monkeypatch.setattr(rebuild, "READ_ATTEMPTS", 3)
    monkeypatch.setattr(rebuild, "FETCH_TIMEOUT_SECONDS", 1.0)
    await published_and_applied(service, upstream)
    live = await snapshot(service)

    try:
        with pytest.raises(RebuildIncomplete, match="could not be read past sequence"):
            await rebuild_with(service, fault_once(restartable_nats.stop, 4 * SMALL_BATCH))
        assert await snapshot(service) == live  # rolled back: the old rows, not a partial set
    finally:
        restartable_nats.start()  # so that the service stops as it would in production

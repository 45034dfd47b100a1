"""An attempt's outcome is applied only while its claim (lease) is still the message's current
one: a process that stalls past its lease, while the message is claimed and sent again, cannot
overwrite the newer outcome with its late one. The race is played step by step on the
dispatcher's own claim and write paths (real PostgreSQL); the loops are not running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from libs.servicekit.service import Wiring
from services.notifications.adapters.delivery_state import LATE
from services.notifications.components import dispatcher
from services.notifications.domain.delivery import Attempted, Claimed
from services.notifications.scheduler import Dispatcher
from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, make_settings, running

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def idle(settings: NotificationsSettings) -> AsyncIterator[Running]:
    """The service without its dispatcher (BW_WEBHOOK_DISPATCH=false)."""
    values = settings.model_dump(by_alias=False)
    async for service in running(make_settings(**{**values, "dispatch": False})):
        with pytest.raises(LookupError):
            service.assembled.component(Dispatcher)
        yield service


@pytest.fixture
async def by_hand(idle: Running) -> AsyncIterator[Dispatcher]:
    """A dispatcher built as the service builds it, connected but without its loops: the test
    claims and writes by hand."""
    assembled = idle.assembled
    wiring = Wiring(assembled.settings, assembled.engine, assembled.registry, assembled.runtime)
    built = dispatcher(assembled.deps, wiring)
    await built.connect()
    try:
        yield built
    finally:
        await built.stop()


async def _queued_message(service: Running) -> None:
    await service.register("brand-a", "http://127.0.0.1:9/hook")
    await service.granted("fac-1", "brand-a")
    await service.publish(service.upstream.completed("fac-1"))
    await service.wait_until("SELECT count(*) FROM {S}.message", 1)


async def _claim_one(by_hand: Dispatcher) -> Claimed:
    [claimed] = await by_hand.claim()
    return claimed


async def _lease_runs_out(service: Running) -> None:
    async with service.assembled.engine.begin() as connection:
        await connection.execute(
            text("UPDATE notifications.message SET next_attempt_at = now() - interval '1 second'")
        )


def _outcome(claimed: Claimed, status_code: int) -> Attempted:
    return Attempted(claimed, datetime.now(UTC), status_code, 5, "answer", None, None)


async def test_a_late_failure_does_not_overwrite_a_newer_success(
    idle: Running, by_hand: Dispatcher
) -> None:
    await _queued_message(idle)
    first = await _claim_one(by_hand)
    await _lease_runs_out(idle)  # the first sender stalls past its lease
    second = await _claim_one(by_hand)
    assert second.message_id == first.message_id and second.lease == first.lease + 1
    await by_hand.write_outcomes([_outcome(second, 200)])
    assert await idle.scalar("SELECT status FROM {S}.message") == "succeeded"
    await by_hand.write_outcomes([_outcome(first, 500)])  # the stalled one answers at last
    assert await idle.scalar("SELECT status FROM {S}.message") == "succeeded"
    assert await idle.scalar("SELECT next_attempt_at FROM {S}.message") is None
    assert await idle.scalar("SELECT attempts FROM {S}.message") == 2  # both counted
    late = await idle.scalar("SELECT error FROM {S}.attempt WHERE status_code = 500")
    assert LATE in late  # and both logged, the late one said to be late


async def test_a_late_410_neither_fails_the_message_nor_disables_the_endpoint(
    idle: Running, by_hand: Dispatcher
) -> None:
    await _queued_message(idle)
    first = await _claim_one(by_hand)
    await _lease_runs_out(idle)
    second = await _claim_one(by_hand)
    # the late outcome arrives while the newer attempt is still in flight
    await by_hand.write_outcomes([_outcome(first, 410)])
    assert await idle.scalar("SELECT status FROM {S}.message") == "pending"
    assert await idle.scalar("SELECT enabled FROM {S}.endpoint") is True
    await by_hand.write_outcomes([_outcome(second, 200)])
    assert await idle.scalar("SELECT status FROM {S}.message") == "succeeded"


async def test_both_outcomes_in_one_batch_only_the_current_one_applies(
    idle: Running, by_hand: Dispatcher
) -> None:
    await _queued_message(idle)
    first = await _claim_one(by_hand)
    await _lease_runs_out(idle)
    second = await _claim_one(by_hand)
    await by_hand.write_outcomes([_outcome(second, 500), _outcome(first, 200)])
    assert await idle.scalar("SELECT status FROM {S}.message") == "pending"  # retried
    assert await idle.scalar("SELECT round_attempts FROM {S}.message") == 1


async def test_an_outcome_under_the_current_lease_applies(
    idle: Running, by_hand: Dispatcher
) -> None:
    await _queued_message(idle)
    claimed = await _claim_one(by_hand)
    await by_hand.write_outcomes([_outcome(claimed, 410)])
    assert await idle.scalar("SELECT status FROM {S}.message") == "failed"
    assert await idle.scalar("SELECT disabled_reason FROM {S}.endpoint") == "gone"


async def test_a_redelivery_during_an_attempt_is_not_undone_by_its_outcome(
    idle: Running, by_hand: Dispatcher
) -> None:
    await _queued_message(idle)
    in_flight = await _claim_one(by_hand)
    redelivered = await idle.client.post(
        "/v1/deliveries/redeliver",
        json={"message_id": in_flight.message_id},
        headers=idle.buyer("brand-a"),
    )
    assert redelivered.status_code == 202, redelivered.text
    await by_hand.write_outcomes([_outcome(in_flight, 200)])  # the earlier attempt ends
    assert await idle.scalar("SELECT status FROM {S}.message") == "pending"
    again = await _claim_one(by_hand)  # so the redelivery still goes
    assert again.message_id == in_flight.message_id and again.lease > in_flight.lease

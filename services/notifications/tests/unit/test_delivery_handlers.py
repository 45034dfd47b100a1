"""Commands that send to an endpoint without changing it (a test message, a redelivery, a
recovery) on the in-memory event store and a fake of the delivery tables: given a registered
endpoint, when a handler runs, then the delivery tables hold this, the endpoint's stream is
unchanged, and the answer is what was done. And the registry that routes every command."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libs.domain.errors import NotFound
from libs.events.memory import InMemoryEventStore
from services.notifications import commands, handlers
from services.notifications.commands import (
    DeleteEndpoint,
    DisableEndpoint,
    Recover,
    Redeliver,
    SendTestMessage,
)
from services.notifications.errors import EndpointDisabled, PayloadExpired
from services.notifications.handlers import COMMAND_HANDLERS, Dependencies, command_runner
from services.notifications.tests.unit.conftest import (
    ENDPOINT,
    NOW,
    STREAM,
    MemoryTables,
    given_registered,
)


class TestSendTestMessage:
    async def test_queues_a_webhook_test_document_for_the_endpoint(
        self, deps: Dependencies, tables: MemoryTables, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        change = await handlers.send_test_message(
            SendTestMessage(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
        )
        queued = tables.messages[change.answer]
        assert (queued["endpoint_id"], queued["buyer_id"]) == (ENDPOINT, "brand-a")
        assert b"org.betterwork.notifications.WebhookTest.v1" in queued["body"]
        assert len(store.events(STREAM)) == 1  # a test message is no fact about the endpoint
        assert not change.events and change.version == 1

    async def test_refuses_another_buyer_and_a_disabled_endpoint(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        with pytest.raises(NotFound):
            await handlers.send_test_message(
                SendTestMessage(endpoint_id=ENDPOINT, caller_buyer_id="brand-b", by="b"), deps
            )
        await handlers.disable_endpoint(DisableEndpoint(endpoint_id=ENDPOINT, reason="m"), deps)
        with pytest.raises(EndpointDisabled):
            await handlers.send_test_message(
                SendTestMessage(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
            )
        assert tables.messages == {}


def _message(tables: MemoryTables, message_id: str, **facts: object) -> None:
    tables.messages[message_id] = {
        "endpoint_id": ENDPOINT,
        "buyer_id": "brand-a",
        "body": b"",
        "status": "failed",
        **facts,
    }


class TestRedeliver:
    async def test_sends_the_message_again_and_answers_with_it(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        _message(tables, "msg_1")
        change = await handlers.redeliver(
            Redeliver(message_id="msg_1", caller_buyer_id="brand-a"), deps
        )
        assert tables.redelivered == ["msg_1"]
        assert change.answer["message_id"] == "msg_1" and change.answer["status"] == "pending"

    async def test_refusals(self, deps: Dependencies, tables: MemoryTables) -> None:
        await given_registered(deps)
        _message(tables, "msg_1")
        _message(tables, "msg_old", purged=True)
        _message(tables, "msg_elsewhere", endpoint_id="ep_unknown")
        cases: list[tuple[str, str | None, type[Exception]]] = [
            ("msg_1", "brand-b", NotFound),  # another buyer's message
            ("msg_unknown", None, NotFound),
            ("msg_elsewhere", None, NotFound),  # its endpoint does not exist (any more)
            ("msg_old", None, PayloadExpired),
        ]
        for message, caller, error in cases:
            with pytest.raises(error):
                await handlers.redeliver(
                    Redeliver(message_id=message, caller_buyer_id=caller), deps
                )
        await handlers.disable_endpoint(DisableEndpoint(endpoint_id=ENDPOINT, reason="m"), deps)
        with pytest.raises(EndpointDisabled, match="enable it first"):
            await handlers.redeliver(Redeliver(message_id="msg_1", caller_buyer_id="brand-a"), deps)
        assert tables.redelivered == []

    async def test_a_deleted_endpoints_message_is_not_found(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        _message(tables, "msg_1")
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id=None, by="admin"), deps
        )
        with pytest.raises(NotFound, match="message msg_1"):
            await handlers.redeliver(Redeliver(message_id="msg_1", caller_buyer_id=None), deps)


class TestRecover:
    async def test_recovers_the_failed_messages_since_a_time(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        since = NOW - timedelta(days=1)
        change = await handlers.recover(
            Recover(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", since=since), deps
        )
        assert change.answer == 3 and tables.recovered == [(ENDPOINT, since)]

    async def test_refuses_another_buyer_a_disabled_and_a_deleted_endpoint(
        self, deps: Dependencies, tables: MemoryTables
    ) -> None:
        await given_registered(deps)
        since = NOW - timedelta(days=1)
        with pytest.raises(NotFound):
            await handlers.recover(
                Recover(endpoint_id=ENDPOINT, caller_buyer_id="brand-b", since=since), deps
            )
        await handlers.disable_endpoint(DisableEndpoint(endpoint_id=ENDPOINT, reason="m"), deps)
        with pytest.raises(EndpointDisabled):
            await handlers.recover(
                Recover(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", since=since), deps
            )
        await handlers.delete_endpoint(
            DeleteEndpoint(endpoint_id=ENDPOINT, caller_buyer_id="brand-a", by="u"), deps
        )
        with pytest.raises(NotFound):
            await handlers.recover(
                Recover(endpoint_id=ENDPOINT, caller_buyer_id=None, since=since), deps
            )
        assert tables.recovered == []


class TestCommandRegistry:
    def test_every_command_has_its_handler(self) -> None:
        declared = {
            value
            for value in vars(commands).values()
            if isinstance(value, type)
            and issubclass(value, commands.Command)
            and value is not commands.Command
        }
        assert set(COMMAND_HANDLERS) == declared

    async def test_the_runner_routes_a_command_to_its_handler(
        self, deps: Dependencies, store: InMemoryEventStore
    ) -> None:
        await given_registered(deps)
        run = command_runner(deps)
        change = await run(DisableEndpoint(endpoint_id=ENDPOINT, reason="gone"))
        assert [type(event).__name__ for event in change.events] == ["WebhookEndpointDisabled"]
        assert len(store.published) == 1

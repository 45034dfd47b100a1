"""What leaves buyer sharing, on the in-memory event store: only the contract's public events,
without contact details, free text or who acted; and every command has its handler in the
registry the service definition runs commands through."""

from __future__ import annotations

from libs.events.memory import InMemoryEventStore
from services.buyer_sharing import commands
from services.buyer_sharing.contract import CONTRACT, PUBLIC_EVENTS
from services.buyer_sharing.dependencies import Dependencies
from services.buyer_sharing.handlers import COMMAND_HANDLERS
from services.buyer_sharing.service import SERVICE
from services.buyer_sharing.tests.unit.givens import (
    BUYER_USER,
    CONTACT_EMAIL,
    FACTORY_USER,
    MESSAGE,
    NOTE,
    OTHER_FACTORY,
    FakeLookups,
    approve,
    declare,
    decline,
    given_buyer,
    given_request,
    published,
    revoke,
    run,
    withdraw,
)


class TestWhatLeavesTheService:
    async def test_only_public_events_leave_with_no_contact_details_free_text_or_actors(
        self, deps: Dependencies, store: InMemoryEventStore, lookups: FakeLookups
    ) -> None:
        # given every kind of command, each with private facts in it
        await given_buyer(deps)
        await given_request(deps, "req-1")
        await run(approve("req-1"), deps)
        await given_request(deps, "req-2", factory_id=OTHER_FACTORY)
        await run(decline("req-2", OTHER_FACTORY), deps)
        await run(declare("rel-1"), deps)
        await run(declare("rel-2"), deps)
        await run(withdraw("rel-2"), deps)
        await run(revoke(), deps)

        fields = {cls.event_name: set(cls.model_fields) for cls in PUBLIC_EVENTS}
        assert sorted(set(published(store))) == sorted(fields)
        for envelope in store.published:
            # exactly the contract's fields, and the envelope's type is the contract's
            assert set(envelope.data) == fields[envelope.event_name], envelope.event_name
            assert type(CONTRACT.registry.decode(envelope)).event_name == envelope.event_name
            text = envelope.model_dump_json()
            for private in (CONTACT_EMAIL, "Anna Svensson", MESSAGE, NOTE, FACTORY_USER):
                assert private not in text, (envelope.event_name, private)
            assert BUYER_USER not in text and "admin-1" not in text


class TestRegistry:
    def test_every_command_has_its_handler(self) -> None:
        every = {
            cls
            for cls in vars(commands).values()
            if isinstance(cls, type)
            and issubclass(cls, commands.Command)
            and cls is not commands.Command
        }
        assert set(COMMAND_HANDLERS) == every
        assert SERVICE.commands is COMMAND_HANDLERS  # what RunCommand runs a route's command with

"""Command handlers of notifications. Commands on an endpoint run the aggregate repository, and
their answer (the endpoint as the command left it) is read by `answer=` in the command's own
transaction. The test message, redelivery and recovery change no aggregate: after the same
authorization they write the delivery tables in a unit of work of their own and return a `Change`
without events whose `answer` is what they did. `dependencies(wiring)` builds what the handlers
need; COMMAND_HANDLERS is at the end.

Authorization that needs the endpoint (is it the caller's buyer's?) runs before `before_write()`,
the idempotency replay point; another buyer's endpoint is a 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent
from libs.domain.errors import NotFound
from libs.events.repository import Repository, Store
from libs.servicekit.service import CommandHandler, Wiring
from services.notifications.adapters.delivery_tables import DeliveryTables, SqlDeliveryTables
from services.notifications.adapters.secretbox import SecretBox
from services.notifications.adapters.transport import Resolver, check_url, system_resolver
from services.notifications.commands import (
    DeleteEndpoint,
    DisableEndpoint,
    Recover,
    Redeliver,
    RegisterEndpoint,
    RotateSecret,
    SendTestMessage,
    UpdateEndpoint,
)
from services.notifications.domain import endpoint as ep
from services.notifications.domain import signing
from services.notifications.domain.messages import webhook_test_body
from services.notifications.domain.ssrf import AddressPolicy, Malformed, Refused
from services.notifications.errors import InvalidUrl, PayloadExpired, UnsafeUrl
from services.notifications.ids import new_secret_id, test_message_id
from services.notifications.projections import project_endpoint
from services.notifications.settings import NotificationsSettings

CONFLICT_RETRIES = 3
# the test seams `SERVICE.app(**overrides)` accepts (`client` is the dispatcher's)
OVERRIDES = frozenset({"clock", "resolver", "client"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewSecret:
    """A signing secret, shown this once, and its fingerprint; after a rotation, until when the
    previous one keeps signing beside it."""

    value: str
    fingerprint: str
    previous_valid_until: datetime | None = None


@dataclass(frozen=True)
class EndpointAnswer:
    """The answer of a command on an endpoint: its read-model row as the command's transaction
    left it (None in handler unit tests), and the new secret when the command made one."""

    endpoint: Mapping[str, Any] | None
    secret: NewSecret | None = None


@dataclass
class Dependencies:
    """What the handlers need; `dependencies(wiring)` builds it once. Without `read_models` (the
    in-memory store of the handler unit tests) nothing is projected."""

    store: Store[Any]  # the EventStore; an InMemoryEventStore in handler unit tests
    box: SecretBox
    policy: AddressPolicy
    resolver: Resolver = system_resolver
    clock: Callable[[], datetime] = field(default=_utcnow)
    tables: DeliveryTables = field(default_factory=SqlDeliveryTables)
    read_models: bool = True
    rotation_overlap_seconds: int = 86400
    max_endpoints_per_buyer: int = 20

    def __post_init__(self) -> None:
        self.endpoints = Repository(
            self.store,
            ep.ENDPOINT,
            subject_of=lambda _id, state: state.buyer_id,
            project=project_endpoint if self.read_models else None,
        )

    async def endpoint_answer(
        self, unit: Any, endpoint_id: str, secret: NewSecret | None = None
    ) -> EndpointAnswer:
        return EndpointAnswer(await self.tables.endpoint(unit.connection, endpoint_id), secret)


def dependencies(wiring: Wiring[NotificationsSettings]) -> Dependencies:
    """The handlers' dependencies on the runtime's store; `clock=` and `resolver=` overrides are
    test seams."""
    unknown = set(wiring.overrides) - OVERRIDES
    if unknown:
        raise TypeError(f"notifications takes no override {', '.join(sorted(unknown))}")
    settings = wiring.settings
    deps = Dependencies(
        store=wiring.runtime.store,
        box=SecretBox(settings.encryption_keys()),
        policy=settings.address_policy(),
        resolver=wiring.overrides.get("resolver") or system_resolver,
        rotation_overlap_seconds=settings.rotation_overlap_seconds,
        max_endpoints_per_buyer=settings.max_endpoints_per_buyer,
    )
    clock = wiring.overrides.get("clock")
    if clock is not None:
        deps.clock = clock
    return deps


def _unchanged(loaded: Loaded[ep.Endpoint], answer: Any) -> Change[ep.Endpoint]:
    """The change of a command that appended nothing to the endpoint, with its answer."""
    return Change(loaded, loaded.state, loaded.version, (), (), answer)


async def _checked_url(deps: Dependencies, url: str) -> str:
    """The URL as it is kept (its host in ASCII), once it parses and may be reached."""
    try:
        return (await check_url(url, deps.policy, deps.resolver)).url
    except Malformed as error:
        raise InvalidUrl(error.detail) from None
    except Refused as error:
        raise UnsafeUrl(error.detail) from None


async def _keep_secret(
    connection: Any, deps: Dependencies, endpoint_id: str, secret_id: str, secret: NewSecret
) -> None:
    sealed = deps.box.seal(secret.value)
    await deps.tables.keep_secret(
        connection, endpoint_id, secret_id, sealed, secret.fingerprint, deps.clock()
    )


# --- endpoints ----------------------------------------------------------------------------------


async def register_endpoint(command: RegisterEndpoint, deps: Dependencies) -> Change[ep.Endpoint]:
    """Register, while the buyer has fewer endpoints than its limit; the answer carries the
    secret, shown once (none when the id was already registered)."""
    types = ep.checked_event_types(command.event_types)
    url = await _checked_url(deps, command.url)
    value, secret_id, at = signing.new_secret(), new_secret_id(), deps.clock()
    secret = NewSecret(value, signing.fingerprint(value))

    async def answer(unit: Any, change: Change[ep.Endpoint]) -> EndpointAnswer:
        return await deps.endpoint_answer(
            unit, command.endpoint_id, secret if change.events else None
        )

    async with deps.store.unit_of_work(authorize_first=True) as unit:

        async def decide(state: ep.Endpoint) -> list[DomainEvent]:
            if not state.registered:  # after the idempotency replay point: a retry replays
                endpoints = await deps.tables.endpoints_of(unit.connection, command.buyer_id)
                ep.within_endpoint_limit(command.buyer_id, endpoints, deps.max_endpoints_per_buyer)
            return ep.register(
                state,
                endpoint_id=command.endpoint_id,
                buyer_id=command.buyer_id,
                url=url,
                event_types=types,
                factory_ids=command.factory_ids,
                description=command.description,
                secret_id=secret_id,
                secret_fingerprint=secret.fingerprint,
                by=command.by,
                at=at,
            )

        change = await deps.endpoints.execute(command.endpoint_id, decide, unit=unit, answer=answer)
        if change.events:
            await _keep_secret(unit.connection, deps, command.endpoint_id, secret_id, secret)
    return change


async def update_endpoint(command: UpdateEndpoint, deps: Dependencies) -> Change[ep.Endpoint]:
    types = ep.checked_event_types(command.event_types) if command.event_types is not None else None
    at = deps.clock()

    async def decide(state: ep.Endpoint) -> list[DomainEvent]:
        url = command.url
        if url is not None and url != state.url:
            url = await _checked_url(deps, url)
        return ep.update(
            state,
            endpoint_id=command.endpoint_id,
            url=url,
            event_types=types,
            factory_ids=command.factory_ids,
            factory_ids_given=command.factory_ids_given,
            description=command.description,
            enabled=command.enabled,
            by=command.by,
            at=at,
        )

    return await deps.endpoints.execute(
        command.endpoint_id,
        decide,
        expected_version=command.expected_version,
        authorize=ep.owned_by(command.caller_buyer_id, command.endpoint_id),
        answer=lambda unit, _change: deps.endpoint_answer(unit, command.endpoint_id),
    )


async def rotate_secret(command: RotateSecret, deps: Dependencies) -> Change[ep.Endpoint]:
    """A new secret (in the answer, shown once); the previous one keeps signing until the
    overlap ends."""
    overlap = command.overlap_seconds
    at = deps.clock()
    valid_until = ep.rotation_overlap_ends(
        at, deps.rotation_overlap_seconds if overlap is None else overlap
    )
    value, secret_id = signing.new_secret(), new_secret_id()
    secret = NewSecret(value, signing.fingerprint(value), valid_until)
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        change = await deps.endpoints.execute(
            command.endpoint_id,
            lambda state: ep.rotate_secret(
                state,
                endpoint_id=command.endpoint_id,
                secret_id=secret_id,
                secret_fingerprint=secret.fingerprint,
                previous_valid_until=valid_until,
                by=command.by,
                at=at,
            ),
            authorize=ep.owned_by(command.caller_buyer_id, command.endpoint_id),
            unit=unit,
            answer=lambda unit, _change: deps.endpoint_answer(unit, command.endpoint_id, secret),
        )
        await deps.tables.expire_secrets(unit.connection, command.endpoint_id, valid_until)
        await _keep_secret(unit.connection, deps, command.endpoint_id, secret_id, secret)
    return change


async def delete_endpoint(command: DeleteEndpoint, deps: Dependencies) -> Change[ep.Endpoint]:
    at = deps.clock()
    return await deps.endpoints.execute(
        command.endpoint_id,
        lambda state: ep.delete(state, endpoint_id=command.endpoint_id, by=command.by, at=at),
        expected_version=command.expected_version,
        authorize=ep.owned_by(command.caller_buyer_id, command.endpoint_id),
    )


async def disable_endpoint(command: DisableEndpoint, deps: Dependencies) -> Change[ep.Endpoint]:
    """The dispatcher's decision (410, or a whole schedule failed)."""
    at = deps.clock()
    return await deps.endpoints.execute(
        command.endpoint_id,
        lambda state: ep.disable(
            state,
            endpoint_id=command.endpoint_id,
            reason=command.reason,
            detail=command.detail,
            by="notifications",
            at=at,
        ),
        conflict_retries=CONFLICT_RETRIES,
    )


async def send_test_message(command: SendTestMessage, deps: Dependencies) -> Change[ep.Endpoint]:
    """Queue a test message (a CloudEvents document of type WebhookTest) for the endpoint; the
    answer is its message id."""
    at = deps.clock()
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        loaded = await deps.endpoints.load(unit, command.endpoint_id)
        ep.owned_by(command.caller_buyer_id, command.endpoint_id)(loaded)
        unit.before_write()
        ep.require_enabled(loaded.state, command.endpoint_id)
        message_id = test_message_id()
        await deps.tables.queue_test_message(
            unit.connection,
            message_id,
            command.endpoint_id,
            loaded.state.buyer_id,
            webhook_test_body(message_id, command.endpoint_id, at),
            at,
        )
    return _unchanged(loaded, message_id)


# --- deliveries ---------------------------------------------------------------------------------


async def redeliver(command: Redeliver, deps: Dependencies) -> Change[ep.Endpoint]:
    """Send one message again, on a fresh retry schedule; the answer is the message as the
    command left it. A buyer may only have sent again what it may read (`buyer_may_read`):
    another buyer's message, or one about a factory whose grant is no longer in force, is a
    404."""
    not_found = NotFound(f"message {command.message_id} not found")
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        found = await deps.tables.find_message(unit.connection, command.message_id)
        caller = command.caller_buyer_id
        if found is None or (
            caller is not None and (found.buyer_id != caller or not found.readable)
        ):
            raise not_found
        loaded = await deps.endpoints.load(unit, found.endpoint_id)
        if not loaded.state.registered or loaded.state.deleted:
            raise not_found
        unit.before_write()
        ep.require_enabled(loaded.state, found.endpoint_id, ": enable it first")
        if found.purged:
            raise PayloadExpired(f"message {command.message_id} is past its payload retention")
        await deps.tables.redeliver(unit.connection, command.message_id, deps.clock())
        message = await deps.tables.message(unit.connection, command.message_id)
    return _unchanged(loaded, message)


async def recover(command: Recover, deps: Dependencies) -> Change[ep.Endpoint]:
    """Send again every failed message of the endpoint created since `since` that its buyer may
    read; the answer is how many."""
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        loaded = await deps.endpoints.load(unit, command.endpoint_id)
        ep.owned_by(command.caller_buyer_id, command.endpoint_id)(loaded)
        unit.before_write()
        ep.require_enabled(loaded.state, command.endpoint_id, ": enable it first")
        count = await deps.tables.recover(
            unit.connection, command.endpoint_id, command.since, deps.clock()
        )
    return _unchanged(loaded, count)


COMMAND_HANDLERS: Mapping[type[Any], CommandHandler] = {
    RegisterEndpoint: register_endpoint,
    UpdateEndpoint: update_endpoint,
    RotateSecret: rotate_secret,
    DeleteEndpoint: delete_endpoint,
    DisableEndpoint: disable_endpoint,
    SendTestMessage: send_test_message,
    Redeliver: redeliver,
    Recover: recover,
}


def command_runner(deps: Dependencies) -> Callable[[object], Awaitable[Change[Any]]]:
    """Runs a command through COMMAND_HANDLERS outside a request (the dispatcher's disables)."""

    async def run(command: object) -> Change[Any]:
        return await COMMAND_HANDLERS[type(command)](command, deps)

    return run

"""A service's event plumbing in one object: store, NATS connection, outbox relay and consumers,
started and stopped together by the service's lifespan."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.consumer import ConsumerRunner, Subscription
from libs.events.envelope import EventRegistry
from libs.events.nats import NatsConnection
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore


def plain_dsn(database_url: str) -> str:
    """asyncpg wants `postgresql://`; SQLAlchemy URLs may name a driver."""
    scheme, _, rest = database_url.partition("://")
    return f"{scheme.split('+')[0]}://{rest}"


class EventRuntime:
    """Owns the event store, the relay of its outbox, and the service's durable consumers."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        database_url: str,
        schema: str,
        registry: EventRegistry,
        nats_url: str,
        subject_prefix: str = "",
        subscriptions: Sequence[Subscription] = (),
        relay_enabled: bool = True,
        stream_replicas: int = 1,
    ) -> None:
        self.store = EventStore(
            engine=engine, schema=schema, registry=registry, subject_prefix=subject_prefix
        )
        self.subject_prefix = subject_prefix
        self.nats = NatsConnection(nats_url, name=registry.service)
        self.relay = OutboxRelay(
            engine=engine, schema=schema, nats=self.nats, listen_dsn=plain_dsn(database_url)
        )
        self.relay_enabled = relay_enabled
        self.stream_replicas = stream_replicas
        self.store.on_commit(self.relay.wake)
        self.consumers = [
            ConsumerRunner(
                engine=engine,
                schema=schema,
                nats=self.nats,
                subscription=subscription,
                subject_prefix=subject_prefix,
                after_commit=self.relay.wake,
            )
            for subscription in subscriptions
        ]

    def consumer(self, durable: str) -> ConsumerRunner:
        for runner in self.consumers:
            if runner.subscription.durable == durable:
                return runner
        raise LookupError(durable)

    async def start(self) -> None:
        await self.nats.start()
        await self.nats.ensure_stream(
            self.subject_prefix, self.store.service, replicas=self.stream_replicas
        )
        if self.relay_enabled:
            await self.relay.start()
        for runner in self.consumers:
            await runner.start()

    async def stop(self) -> None:
        for runner in self.consumers:
            await runner.stop()
        await self.relay.stop()
        await self.nats.stop()
        await self.store.close()

    async def check_nats(self) -> None:
        await self.nats.check()

"""A service's event plumbing in one object: store, NATS connection, outbox relay and consumers,
started and stopped together by the service's lifespan, kept alive by one supervisor, and watched
(lag, backlog, progress) for `/metrics` and `/readyz`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.contract import PublicContract
from libs.domain.envelope import EventRegistry
from libs.events.consumer import ConsumerRunner, Subscription
from libs.events.nats import NatsConnection
from libs.events.relay import OutboxRelay, Watermark
from libs.events.store import EventStore
from libs.events.supervisor import SupervisedTask, Supervisor

log = logging.getLogger(__name__)


class ProgressSettings(BaseSettings):
    """How the runtime runs and watches its consumers and relay (environment: `BW_EVENTS_…`)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # not ready when a consumer or the relay has work waiting and made no progress for this long
    stall_seconds: float = Field(60.0, gt=0, validation_alias="BW_EVENTS_STALL_SECONDS")
    # how often consumer lag (JetStream consumer info) and the outbox backlog are polled
    poll_seconds: float = Field(5.0, gt=0, validation_alias="BW_EVENTS_POLL_SECONDS")
    # how long an idle consumer's fetch waits for a message before it asks again; a stopping
    # consumer lets its fetch run out, so this is also the longest its stop waits for it
    fetch_seconds: float = Field(2.0, gt=0, validation_alias="BW_EVENTS_FETCH_SECONDS")
    # JetStream's ack wait for every consumer of the service, instead of each subscription's own
    # (30 s unless it says otherwise): how long an event handed to a process that died waits
    # before it is delivered again; a handler still working keeps its events meanwhile
    ack_wait_seconds: float | None = Field(
        None, gt=0, validation_alias="BW_EVENTS_ACK_WAIT_SECONDS"
    )


class NotRunning(Exception):
    """A consumer or the relay is not running (crashed and waiting for its restart, or stopped)."""


class Stalled(Exception):
    """A consumer or the relay has work waiting and has made no progress for too long."""


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
        progress: ProgressSettings | None = None,
        supervisor: Supervisor | None = None,
        public: PublicContract | None = None,
        watermark: Watermark | None = None,
    ) -> None:
        self.progress = progress or ProgressSettings()
        # one supervisor for every long-running task of the service; the app may add its own
        self.supervisor = supervisor or Supervisor()
        self.store = EventStore(
            engine=engine,
            schema=schema,
            registry=registry,
            subject_prefix=subject_prefix,
            public=public,
        )
        self.subject_prefix = subject_prefix
        self.nats = NatsConnection(nats_url, name=registry.service)
        self.relay = OutboxRelay(
            engine=engine,
            schema=schema,
            nats=self.nats,
            listen_dsn=plain_dsn(database_url),
            supervisor=self.supervisor,
            watermark=watermark,
            subject_prefix=subject_prefix,
        )
        self.relay_enabled = relay_enabled
        self.stream_replicas = stream_replicas
        self.store.on_commit(self.relay.wake)
        self._engine = engine
        self.consumers: list[ConsumerRunner] = []
        for subscription in subscriptions:
            self.subscribe(subscription)
        self._monitor_stopping = asyncio.Event()
        self._monitor: SupervisedTask | None = None

    def subscribe(self, subscription: Subscription) -> ConsumerRunner:
        """Add a durable consumer (before `start`). For handlers that need the runtime's own
        store: build the runtime, then the handlers' dependencies on `runtime.store`, then
        subscribe them."""
        if self.progress.ack_wait_seconds is not None:
            subscription = dataclasses.replace(
                subscription, ack_wait=self.progress.ack_wait_seconds
            )
        runner = ConsumerRunner(
            engine=self._engine,
            schema=self.store.schema,
            nats=self.nats,
            subscription=subscription,
            subject_prefix=self.subject_prefix,
            fetch_timeout=self.progress.fetch_seconds,
            after_commit=self.relay.wake,
            supervisor=self.supervisor,
            stream_replicas=self.stream_replicas,
        )
        self.consumers.append(runner)
        return runner

    def consumer(self, durable: str) -> ConsumerRunner:
        for runner in self.consumers:
            if runner.subscription.durable == durable:
                return runner
        raise LookupError(durable)

    async def start(self) -> None:
        await self.nats.start()
        await self.nats.ensure_stream(
            self.subject_prefix,
            self.store.service,
            replicas=self.stream_replicas,
            allow_rollup=self.relay.watermark is not None,
        )
        if self.relay_enabled:
            await self.relay.start()
        for runner in self.consumers:
            await runner.start()
        self._monitor_stopping.clear()
        self._monitor = self.supervisor.start(
            f"event-monitor-{self.store.schema}", self._watch, self._monitor_stopping
        )

    async def stop(self) -> None:
        self._monitor_stopping.set()
        if self._monitor is not None:
            await self.supervisor.wait_stopped(self._monitor, timeout=10)
            self._monitor = None
        # together: each lets its fetch in flight run out, so one after another took their sum
        await asyncio.gather(*(runner.stop() for runner in self.consumers))
        await self.relay.stop()
        await self.nats.stop()
        await self.store.close()

    async def check_nats(self) -> None:
        await self.nats.check()

    async def check_progress(self) -> None:
        """Readiness: every consumer and the relay run, and none has had work waiting without
        progress for longer than `stall_seconds`. Raises NotRunning or Stalled otherwise."""
        watched: list[tuple[str, ConsumerRunner | OutboxRelay]] = [
            (runner.durable, runner) for runner in self.consumers
        ]
        if self.relay_enabled:
            watched.append(("outbox relay", self.relay))
        not_running = [name for name, component in watched if not component.running]
        if not_running:
            raise NotRunning(", ".join(not_running))
        limit = self.progress.stall_seconds
        stalled = [name for name, component in watched if component.stalled_for() > limit]
        if stalled:
            raise Stalled(", ".join(stalled))

    async def poll(self) -> None:
        """Fetch consumer lag and the outbox backlog once (for gauges and readiness)."""
        for runner in self.consumers:
            try:
                await asyncio.wait_for(runner.poll_lag(), timeout=self.progress.poll_seconds)
            except Exception as error:  # NATS down or the consumer not provisioned yet
                log.debug("lag of %s unknown: %r", runner.durable, error)
        if self.relay_enabled:
            try:
                await asyncio.wait_for(
                    self.relay.poll_backlog(), timeout=self.progress.poll_seconds
                )
            except Exception as error:  # the database is unreachable: keep the last figure
                log.debug("outbox backlog unknown: %r", error)

    async def _watch(self) -> None:
        while not self._monitor_stopping.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._monitor_stopping.wait(), timeout=self.progress.poll_seconds
                )

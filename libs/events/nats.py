"""NATS JetStream naming and connection: one stream per producing service, a subject per event
type and version, streams provisioned idempotently at start-up."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

log = logging.getLogger(__name__)

# How long `ensure_stream` keeps trying while JetStream is not answering yet (a forming cluster).
ENSURE_STREAM_SECONDS = 30.0


def subject_for(prefix: str, service: str, event_name: str, schema_version: int = 1) -> str:
    """`assessment.AssessmentCompleted.v1` (prefixed in tests, e.g. `t3f9a1c.assessment…`)."""
    return f"{prefix}{service}.{event_name}.v{schema_version}"


def stream_name(prefix: str, service: str) -> str:
    """`ASSESSMENT`; a test prefix `t3f9a1c.` gives `T3F9A1C_ASSESSMENT`."""
    return (prefix.replace(".", "_") + service).upper()


@dataclass
class NatsConnection:
    """A long-lived NATS connection that reconnects forever; shared by the relay and consumers."""

    url: str
    name: str
    connect_timeout: float = 5.0
    client: Client | None = None
    _jetstream: JetStreamContext | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        async with self._lock:
            if self.client is not None:
                return
            self.client = await nats.connect(
                # a cluster's nodes, comma-separated: nats-py takes a list (a string is one URL)
                [server.strip() for server in self.url.split(",") if server.strip()],
                name=self.name,
                connect_timeout=self.connect_timeout,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )

    async def stop(self) -> None:
        async with self._lock:
            if self.client is not None:
                try:
                    await asyncio.wait_for(self.client.drain(), timeout=10)
                except (TimeoutError, nats.errors.Error, OSError) as error:
                    log.warning("nats drain failed: %s", error)
                    try:
                        await self.client.close()
                    except (nats.errors.Error, OSError) as close_error:
                        # a server already gone resets the socket under the close: the
                        # connection is over either way, and a stop must not mask the caller's
                        # own error (a rebuild's RebuildIncomplete)
                        log.warning("nats close after a failed drain: %r", close_error)
                self.client = None
                self._jetstream = None

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    def jetstream(self) -> JetStreamContext:
        """The connection's one JetStream context (each new context adds a reply subscription
        that nats-py never removes, so it is created once and reused)."""
        if self.client is None:
            raise RuntimeError("NATS connection not started")
        if self._jetstream is None:
            self._jetstream = self.client.jetstream(timeout=5.0)
        return self._jetstream

    async def check(self) -> None:
        """Readiness: raises unless connected."""
        if not self.connected:
            raise ConnectionError("NATS not connected")

    async def ensure_stream(
        self,
        prefix: str,
        service: str,
        *,
        duplicate_window: float = 600.0,
        replicas: int = 1,
        allow_rollup: bool = False,
    ) -> str:
        """Create the service's stream if it is missing (file storage, de-duplication window).

        An existing stream is left as it is: operators may have tuned it (replicas, limits); only
        `allow_rollup` (for the relay's watermarks, which replace each other) is switched on in an
        existing stream that lacks it.
        """
        js = self.jetstream()
        name = stream_name(prefix, service)
        config = StreamConfig(
            name=name,
            subjects=[f"{prefix}{service}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
            allow_rollup_hdrs=allow_rollup,
        )
        # A cluster that has just formed (or lost its meta leader) answers the JetStream API with
        # timeouts or "unavailable" for a few seconds: try again for a while before giving up.
        deadline = asyncio.get_running_loop().time() + ENSURE_STREAM_SECONDS
        delay = 0.2
        while True:
            try:
                try:
                    info = await js.stream_info(name)
                    if allow_rollup and not info.config.allow_rollup_hdrs:
                        await js.update_stream(
                            dataclasses.replace(info.config, allow_rollup_hdrs=True)
                        )
                except NotFoundError:
                    try:
                        await js.add_stream(config)
                    except BadRequestError:
                        # another replica or service created it between our look-up and our
                        # create; on a cluster it may take a moment to be visible from this node
                        await self._stream_visible(name)
                return name
            except (
                TimeoutError,
                nats.errors.TimeoutError,
                nats.errors.NoRespondersError,
                nats.errors.ConnectionReconnectingError,
                ServiceUnavailableError,
            ) as error:
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise
                log.warning("nats %s: stream %s not reachable yet (%r)", self.name, name, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _stream_visible(self, name: str, timeout: float = 10.0) -> None:
        """Wait until `stream_info(name)` answers (NotFoundError after `timeout`)."""
        js = self.jetstream()
        async with asyncio.timeout(timeout):
            while True:
                try:
                    await js.stream_info(name)
                    return
                except NotFoundError:
                    await asyncio.sleep(0.1)

    async def _on_error(self, error: Exception) -> None:
        log.warning("nats %s: %s", self.name, error)

    async def _on_disconnected(self) -> None:
        if self.client is not None and not self.client.is_draining and not self.client.is_closed:
            log.warning("nats %s: disconnected", self.name)

    async def _on_reconnected(self) -> None:
        log.info("nats %s: reconnected", self.name)

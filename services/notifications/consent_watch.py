"""The consent watch, a background component beside the dispatcher: how old buyer sharing's
consent watermark is, as a gauge (`bw_consent_watermark_age_seconds`, +Inf while none was ever
received) that the alert rules read, and a log line each time deliveries of factory events stop
or resume waiting for it. The waiting itself is the dispatcher's claim (adapters/consent.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.store import driver_connection
from libs.events.supervisor import SupervisedTask, Supervisor
from services.notifications.adapters.consent import WATERMARK_AGE, watermark_age

log = logging.getLogger(__name__)


class ConsentWatch:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        supervisor: Supervisor,
        bound_seconds: float,
        every_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.supervisor = supervisor
        self.bound = bound_seconds
        self.every = every_seconds
        self.stopping = asyncio.Event()
        self.current: bool | None = None  # unknown until the first look
        self._task: SupervisedTask | None = None

    async def start(self) -> None:
        self.stopping.clear()
        self._task = self.supervisor.start("consent-watch", self._watch, self.stopping)

    async def stop(self) -> None:
        self.stopping.set()
        if self._task is not None:
            await self.supervisor.wait_stopped(self._task, timeout=10)
            self._task = None

    async def look(self) -> float:
        """The watermark's age now (seconds, +Inf without one), kept in the gauge."""
        async with self.engine.connect() as connection:
            age = await watermark_age(await driver_connection(connection))
        seconds = math.inf if age is None else max(age, 0.0)
        WATERMARK_AGE.set(seconds)
        current = seconds <= self.bound
        if current != self.current:
            if current:
                log.info(
                    "consent is current again (watermark %.1f s old): deliveries resume", seconds
                )
            else:
                log.warning(
                    "consent watermark %s old (bound %.0f s): deliveries of factory events "
                    "wait until buyer sharing's next watermark",
                    "never received" if age is None else f"{seconds:.1f} s",
                    self.bound,
                )
            self.current = current
        return seconds

    async def _watch(self) -> None:
        while not self.stopping.is_set():
            await self.look()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=self.every)

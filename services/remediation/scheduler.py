"""The deadline scheduler: periodically flags overdue items and late first publications.

Runs in every replica; the plan stream's optimistic concurrency and the aggregate's memory of what it
already flagged make sure each flag is emitted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.remediation.handlers import Remediation, flag_due_deadlines

log = logging.getLogger(__name__)


class DeadlineScheduler:
    def __init__(self, remediation: Remediation, *, interval_seconds: float) -> None:
        self.remediation = remediation
        self.interval_seconds = interval_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """One pass; returns how many events were appended."""
        return await flag_due_deadlines(self.remediation)

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="remediation-deadlines")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self.run_once(), timeout=max(self.interval_seconds, 30))
            except Exception:
                log.exception("deadline check failed; trying again next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_seconds)

"""The deadline scheduler: periodically flags overdue items and late first publications.

Runs in every replica; the plan stream's optimistic concurrency and the aggregate's memory of what it
already flagged make sure each flag is emitted once. It runs under the service's supervisor, and a
failed pass (the database unreachable, say) is retried after a short, capped, jittered backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from libs.events.supervisor import SupervisedComponent, Supervisor, backoff_delay
from services.remediation import queries
from services.remediation.commands import FlagDeadlines
from services.remediation.handlers import Remediation, flag_deadlines

log = logging.getLogger(__name__)

RETRY_INITIAL_SECONDS = 1.0


async def flag_due_deadlines(deps: Remediation) -> int:
    """One pass: flag every plan with a deadline past; returns the events appended."""
    today = deps.clock().date()
    async with deps.store.reading() as connection:
        factory_ids = await queries.factories_with_due_deadlines(connection, today)
    appended = 0
    for factory_id in factory_ids:
        change = await flag_deadlines(FlagDeadlines(factory_id), deps)
        appended += len(change.events)
    return appended


class DeadlineScheduler(SupervisedComponent):
    """A service component (`components` in service.py), started after the event runtime."""

    task_name = "remediation-deadlines"

    def __init__(
        self,
        remediation: Remediation,
        *,
        interval_seconds: float,
        supervisor: Supervisor | None = None,
    ) -> None:
        super().__init__(supervisor)
        self.remediation = remediation
        self.interval_seconds = interval_seconds

    async def run_once(self) -> int:
        """One pass; returns how many events were appended."""
        return await flag_due_deadlines(self.remediation)

    async def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.run_once(), timeout=max(self.interval_seconds, 30))
                failures = 0
                pause = self.interval_seconds
            except Exception:
                failures += 1
                # retry sooner than the next regular pass, never later
                pause = min(
                    backoff_delay(failures, initial=RETRY_INITIAL_SECONDS, cap=60.0),
                    self.interval_seconds,
                )
                log.exception("deadline check failed; trying again in %.1f s", pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=pause)

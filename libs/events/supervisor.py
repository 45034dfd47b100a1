"""Keeps a service's long-running tasks alive: a task that ends unexpectedly or crashes is logged
and restarted after a capped, jittered backoff, and every restart is counted in `/metrics`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

RESTARTS = Counter(
    "bw_task_restarts_total", "Long-running tasks restarted after ending unexpectedly", ["task"]
)
RUNNING = Gauge("bw_task_running", "1 while a supervised long-running task is running", ["task"])

# A task that ran this long before it ended is considered healthy again: its backoff starts over.
HEALTHY_RUN_SECONDS = 60.0


def jittered(seconds: float) -> float:
    """`seconds` spread over ±25%, so replicas that failed together do not retry in lockstep."""
    return seconds * random.uniform(0.75, 1.25)


def backoff_delay(failures: int, *, initial: float, cap: float) -> float:
    """Exponential backoff for the `failures`-th failure in a row (1, 2, …), capped, jittered."""
    return jittered(min(initial * 2 ** max(failures - 1, 0), cap))


@dataclass
class SupervisedTask:
    """One task under supervision: `run` is called again whenever it ends before `stopping`."""

    name: str
    run: Callable[[], Awaitable[None]]
    stopping: asyncio.Event
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    last_error: str | None = None
    _running: bool = field(default=False, repr=False)

    @property
    def running(self) -> bool:
        """Whether `run` is executing right now (not between a crash and its restart)."""
        return self._running and self.task is not None and not self.task.done()


class Supervisor:
    """Runs long-lived coroutines and restarts any that ends while it was not asked to stop.

    The supervised component keeps its own stop signal (`stopping`): setting it and awaiting
    `wait_stopped` ends the task for good; anything else that ends `run` is a restart.
    """

    def __init__(self, *, backoff_initial: float = 0.5, backoff_cap: float = 30.0) -> None:
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.tasks: dict[str, SupervisedTask] = {}

    def start(
        self, name: str, run: Callable[[], Awaitable[None]], stopping: asyncio.Event
    ) -> SupervisedTask:
        # running from now on (the task is scheduled), until it crashes or ends
        supervised = SupervisedTask(name=name, run=run, stopping=stopping, _running=True)
        previous = self.tasks.get(name)
        if previous is not None and previous.task is not None and not previous.task.done():
            raise RuntimeError(f"task {name!r} is already supervised")
        supervised.task = asyncio.create_task(self._keep(supervised), name=name)
        self.tasks[name] = supervised
        return supervised

    async def wait_stopped(self, supervised: SupervisedTask, timeout: float) -> None:
        """After `stopping` was set: wait for the task to end, cancelling it after `timeout`."""
        task = supervised.task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
        except TimeoutError:
            log.warning(
                "task %s did not stop within %.0f s; cancelling it", supervised.name, timeout
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        supervised.task = None

    def running(self, name: str) -> bool:
        supervised = self.tasks.get(name)
        return supervised is not None and supervised.running

    async def _keep(self, supervised: SupervisedTask) -> None:
        failures = 0
        while not supervised.stopping.is_set():
            started = time.monotonic()
            supervised._running = True
            RUNNING.labels(supervised.name).set(1)
            try:
                await supervised.run()
                if supervised.stopping.is_set():
                    return
                supervised.last_error = "ended without being asked to stop"
                log.error("task %s ended unexpectedly; restarting it", supervised.name)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                supervised.last_error = repr(error)
                log.exception("task %s crashed; restarting it", supervised.name)
            finally:
                supervised._running = False
                RUNNING.labels(supervised.name).set(0)
            if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                failures = 0
            failures += 1
            supervised.restarts += 1
            RESTARTS.labels(supervised.name).inc()
            delay = backoff_delay(failures, initial=self.backoff_initial, cap=self.backoff_cap)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(supervised.stopping.wait(), timeout=delay)


class SupervisedComponent(ABC):
    """A service component (`ServiceDefinition.components`) whose work is one long-running task
    under the service's supervisor: `start` runs `run` (restarted if it ends unexpectedly), `stop`
    asks it to end (`stopping` is set) and waits `stop_timeout` before cancelling it."""

    task_name: str
    stop_timeout: float = 10.0

    def __init__(self, supervisor: Supervisor | None = None) -> None:
        self.supervisor = supervisor or Supervisor()
        self.stopping = asyncio.Event()
        self._task: SupervisedTask | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and self._task.running

    async def start(self) -> None:
        self.stopping.clear()
        self._task = self.supervisor.start(self.task_name, self.run, self.stopping)

    async def stop(self) -> None:
        self.stopping.set()
        if self._task is not None:
            await self.supervisor.wait_stopped(self._task, timeout=self.stop_timeout)
            self._task = None

    @abstractmethod
    async def run(self) -> None:
        """The work, until `stopping` is set."""

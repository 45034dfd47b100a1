"""The service definition: a toy service declared once becomes an app whose routes run commands
through the registry (`RunCommand`) and reach their dependencies through an alias, whose problems
are the defaults plus its own, and whose command line offers `rebuild` only when it has one.
Building the app connects to nothing, so none of this needs a server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from asyncpg.exceptions import DeadlockDetectedError
from fastapi import APIRouter, Depends

from libs.domain.aggregate import Change, Loaded, VersionMismatch
from libs.domain.contract import PublicContract
from libs.domain.envelope import EventRegistry
from libs.domain.errors import Conflict, DomainError, NotFound
from libs.servicekit.problems import ProblemRegistry
from libs.servicekit.service import (
    RunCommand,
    Service,
    ServiceDefinition,
    Wiring,
    dependencies,
    run_command_line,
)
from libs.servicekit.settings import ServiceSettings


@dataclass(frozen=True)
class Greet:
    name: str


@dataclass(frozen=True)
class Unhandled:
    pass


class NameTaken(Conflict):
    """A toy service's own error, mapped to its own slug."""


class ToySettings(ServiceSettings):
    service_name: str = "toy"


@dataclass
class ToyDeps:
    greeting: str
    calls: list[str]


async def greet(command: Greet, deps: ToyDeps) -> Change[str]:
    deps.calls.append(command.name)
    if command.name == "taken":
        raise NameTaken("that name is taken", name=command.name)
    if command.name == "missing":
        raise NotFound("no such name")
    if command.name == "stale":
        raise VersionMismatch(expected=1, actual=2)
    if command.name == "invalid":
        raise DomainError("not a name")
    if command.name == "deadlocked":
        raise DeadlockDetectedError("deadlock detected")
    return Change(
        before=Loaded(command.name, "", 0),
        state=command.name,
        version=1,
        events=(),
        envelopes=(),
        answer={"message": f"{deps.greeting}, {command.name}"},
    )


Deps = Annotated[ToyDeps, Depends(dependencies)]
router = APIRouter()


@router.post("/greetings/{name}")
async def post_greeting(name: str, run: RunCommand) -> dict[str, Any]:
    change = await run(Greet(name))
    answer: dict[str, Any] = change.answer
    return answer


@router.get("/calls")
async def calls(deps: Deps) -> list[str]:
    return deps.calls


@router.post("/unhandled")
async def unhandled(run: RunCommand) -> None:
    await run(Unhandled())


def make_deps(wiring: Wiring[ServiceSettings]) -> ToyDeps:
    return ToyDeps(greeting=wiring.overrides.get("greeting", "Hello"), calls=[])


def toy(**fields: Any) -> ServiceDefinition[ServiceSettings, ToyDeps]:
    return ServiceDefinition(
        name="toy",
        title="Toy service",
        description="A service declared for the tests.",
        settings=ToySettings,
        schema="toy",
        migrations=Path("/nonexistent"),
        events=lambda: EventRegistry("toy"),
        contract=lambda _settings: PublicContract(EventRegistry("toy"), lambda _event, _state: ()),
        dependencies=make_deps,
        commands={Greet: greet},
        routers=[router],
        problems=ProblemRegistry().add(NameTaken, 409, "Name taken", "name-taken"),
        **fields,
    )


@pytest.fixture
def settings() -> ServiceSettings:
    # the root conftest says development, as for every test
    return ServiceSettings(service_name="toy")


async def request(app: Any, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as client:
        return await client.request(method, path)


async def test_a_route_runs_its_command_through_the_registry(settings: ServiceSettings) -> None:
    app = toy().app(settings, greeting="Bonjour")
    response = await request(app, "POST", "/greetings/ada")
    assert response.status_code == 200
    assert response.json() == {"message": "Bonjour, ada"}
    assert (await request(app, "GET", "/calls")).json() == ["ada"]
    service = app.state.service
    assert isinstance(service, Service) and service.deps.calls == ["ada"]


@pytest.mark.parametrize(
    ("name", "status", "slug"),
    [
        ("taken", 409, "name-taken"),
        ("missing", 404, "not-found"),
        ("stale", 412, "precondition-failed"),
        ("invalid", 422, "unprocessable-entity"),
        # PostgreSQL aborted the transaction to break a deadlock: nothing written, send again
        ("deadlocked", 409, "concurrency-conflict"),
    ],
)
async def test_errors_are_the_defaults_plus_the_services_own(
    settings: ServiceSettings, name: str, status: int, slug: str
) -> None:
    response = await request(toy().app(settings), "POST", f"/greetings/{name}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(slug)


async def test_a_command_without_a_handler_is_a_bug_not_a_silent_success(
    settings: ServiceSettings,
) -> None:
    response = await request(toy().app(settings), "POST", "/unhandled")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"


def test_the_command_line_offers_rebuild_only_when_declared(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_command_line(toy(), ["rebuild"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'rebuild'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        run_command_line(toy(), ["--help"])
    assert exit_info.value.code == 0
    assert "serve" in capsys.readouterr().out

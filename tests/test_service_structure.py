"""Every service is the shape docs/architecture.md describes, checked against its declaration: a
`ServiceDefinition` in `service.py` that registers every command and has a rebuild, the same
modules, one error model, frozen migrations, routes that never reach into `app.state`, and no
module past the house limit. The page cannot drift from the code while this passes."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from libs.domain.errors import DomainError
from libs.servicekit.service import ServiceDefinition

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(
    path.name for path in (ROOT / "services").iterdir() if (path / "__init__.py").exists()
)
# every service has these (a name may be a module or a package)
REQUIRED = (
    "__main__",
    "service",
    "settings",
    "errors",
    "ids",
    "domain",
    "contract",
    "commands",
    "handlers",
    "tables",
    "projections",
    "queries",
    "rebuild",
    "schemas",
    "api",
)
MAX_LINES = 400


def definition(name: str) -> ServiceDefinition[object, object]:  # type: ignore[type-var]
    module = importlib.import_module(f"services.{name}.service")
    service = module.SERVICE
    assert isinstance(service, ServiceDefinition)
    return service


def test_the_services_are_the_ones_the_docs_name() -> None:
    assert {"assessment", "remediation", "buyer_sharing", "notifications"} <= set(SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_is_declared_once(name: str) -> None:
    service = definition(name)
    assert service.name == name
    assert not (ROOT / "services" / name / "app.py").exists(), "a hand-wired composition root"
    main = (ROOT / "services" / name / "__main__.py").read_text()
    assert "SERVICE.main()" in main


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_has_every_part(name: str) -> None:
    folder = ROOT / "services" / name
    missing = [
        part
        for part in REQUIRED
        if not (folder / f"{part}.py").is_file() and not (folder / part / "__init__.py").is_file()
    ]
    assert not missing, f"services/{name} lacks {missing}"
    service = definition(name)
    assert service.rebuild is not None, "every service rebuilds its read models"
    assert service.routers, "a service without routes"
    assert service.migrations == folder / "migrations"


@pytest.mark.parametrize("name", SERVICES)
def test_every_command_has_a_handler(name: str) -> None:
    """Each command class `commands` defines runs through the registry (`RunCommand`)."""
    commands = importlib.import_module(f"services.{name}.commands")
    classes = [
        value
        for value in vars(commands).values()
        if inspect.isclass(value) and value.__module__ == commands.__name__
    ]
    # a base of other commands, or a value carried inside one (a committee member), is no command
    annotations = " ".join(
        str(annotation)
        for cls in classes
        for klass in cls.__mro__
        if klass.__module__ == commands.__name__
        for annotation in vars(klass).get("__annotations__", {}).values()
    )
    declared = {
        cls
        for cls in classes
        if not any(other is not cls and issubclass(other, cls) for other in classes)
        and not re.search(rf"\b{cls.__name__}\b", annotations)
    }
    registered = set(definition(name).commands)
    assert registered, "no command handlers"
    unhandled = sorted(command.__name__ for command in declared - registered)
    assert not unhandled, f"commands without a handler: {unhandled}"


@pytest.mark.parametrize("name", SERVICES)
def test_one_error_model(name: str) -> None:
    """A service's errors derive from the one `DomainError`, and its problem registry maps only
    its own errors (the library's come from `default_problems`)."""
    errors = importlib.import_module(f"services.{name}.errors")
    exceptions = [
        value
        for value in vars(errors).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]
    strays = [error.__name__ for error in exceptions if not issubclass(error, DomainError)]
    assert not strays, f"errors outside the one model: {strays}"
    foreign = [
        error.__name__
        for error in definition(name).problems._mappings
        if not error.__module__.startswith(f"services.{name}.")
    ]
    assert not foreign, f"mapped again in the service: {foreign}"


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_are_frozen(name: str) -> None:
    """A revision never imports the live tables (its DDL is frozen in it)."""
    versions = sorted((ROOT / "services" / name / "migrations" / "versions").glob("*.py"))
    assert versions, "no migration"
    for path in versions:
        tree = ast.parse(path.read_text())
        imported = [
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        ] + [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ]
        live = [module for module in imported if module.startswith("services.")]
        assert not live, f"{path.name} imports {live}"


@pytest.mark.parametrize("name", SERVICES)
def test_routes_never_reach_into_app_state(name: str) -> None:
    folder = ROOT / "services" / name
    paths = [folder / "api.py"] if (folder / "api.py").exists() else []
    paths += sorted((folder / "api").glob("*.py"))
    offenders = [
        path.relative_to(ROOT).as_posix() for path in paths if "app.state" in path.read_text()
    ]
    assert not offenders, f"routes that read app.state instead of a dependency: {offenders}"


def test_no_module_outgrows_the_house_limit() -> None:
    too_long = {
        path.relative_to(ROOT).as_posix(): lines
        for path in sorted((ROOT / "services").rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_integration_tests_are_marked_wherever_they_live() -> None:
    """The root conftest marks every test that uses a real server or lives in an `integration`
    folder: deselecting `integration` leaves none of them."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "-m",
            "not integration",
            "services",
            "libs",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected, "nothing collected: the check would pass vacuously"
    in_integration = [line for line in collected if "/integration/" in line]
    assert not in_integration, in_integration[:5]
    using_servers = [
        line
        for line in collected
        if any(part in line for part in ("test_store.py::", "test_resilience.py::"))
    ]
    assert not using_servers, using_servers[:5]

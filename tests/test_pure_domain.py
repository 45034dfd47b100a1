"""The domain is pure: `libs.domain` and every domain module of every service import with the web
framework, the HTTP clients, the NATS client, the PostgreSQL driver and SQLAlchemy made
unimportable (docs/architecture.md, "A pure domain"), and every service has a `domain/`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The domain of a service: its `domain/` package and these modules beside it (what callers ask,
# what leaves the service, what it reads of others, its errors and identifiers). Everything else
# (api, handlers, projections, queries, transports, the service definition) is an adapter.
DOMAIN_MODULES = frozenset({"contract", "commands", "errors", "ids", "upstream"})
FORBIDDEN = ("nats", "asyncpg", "sqlalchemy", "fastapi", "starlette", "httpx", "aiohttp")

BLOCKER = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {forbidden!r}:
            raise ImportError(f"domain code imported {{name}}")
        return None
sys.meta_path.insert(0, Refuse())
for module in {modules!r}:
    __import__(module)
print(len({modules!r}))
"""


def services() -> list[Path]:
    return [
        path for path in sorted((ROOT / "services").iterdir()) if (path / "__init__.py").exists()
    ]


def domain_modules() -> list[str]:
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in sorted((ROOT / "libs" / "domain").glob("*.py"))
    ]
    for service in services():
        paths = sorted((service / "domain").rglob("*.py"))
        paths += [service / f"{name}.py" for name in sorted(DOMAIN_MODULES)]
        modules += [
            ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for path in paths
            if path.exists()
        ]
    return modules


def test_every_service_has_a_domain_package() -> None:
    missing = [service.name for service in services() if not (service / "domain").is_dir()]
    assert not missing, f"services without domain/: {missing}"


def test_domain_modules_import_without_io_libraries() -> None:
    modules = domain_modules()
    assert "services.assessment.domain.assessment" in modules
    assert "libs.domain.aggregate" in modules and "libs.domain.errors" in modules
    assert (
        "services.remediation.domain.plan" in modules and "services.remediation.contract" in modules
    )
    script = BLOCKER.format(forbidden=set(FORBIDDEN), modules=modules)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(modules))


@pytest.mark.parametrize(
    ("adapter", "library"),
    [
        ("services.assessment.projections", "sqlalchemy"),
        ("libs.servicekit.types", "fastapi"),
        ("libs.events.nats", "nats"),
    ],
)
def test_the_blocker_does_refuse_an_adapter(adapter: str, library: str) -> None:
    """The check can fail: an adapter module that imports a banned library is refused."""
    script = BLOCKER.format(forbidden=set(FORBIDDEN), modules=[adapter])
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and f"domain code imported {library}" in result.stderr

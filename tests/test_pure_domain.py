"""The domain is pure: every domain module of every service imports with the NATS client, the
PostgreSQL driver and SQLAlchemy made unimportable (docs/architecture.md, "A pure domain")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Modules of a service that do I/O or wire it: everything else is domain and must stay pure.
ADAPTERS = frozenset(
    {
        "__init__",
        "__main__",
        "api",
        "app",
        "consumers",
        "handlers",
        "projections",
        "queries",
        "rebuild",
        "scheduler",
        "settings",
        "tables",
    }
)
FORBIDDEN = ("nats", "asyncpg", "sqlalchemy")

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


def domain_modules() -> list[str]:
    modules = []
    for service in sorted((ROOT / "services").iterdir()):
        if not (service / "__init__.py").exists():
            continue
        for path in sorted(service.rglob("*.py")):
            inside = path.relative_to(service).parts[:-1]
            if path.stem in ADAPTERS or {"tests", "migrations"} & set(inside):
                continue
            modules.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return modules


def test_domain_modules_import_without_io_libraries() -> None:
    modules = domain_modules()
    assert "services.assessment.domain.assessment" in modules
    assert (
        "services.remediation.domain.plan" in modules and "services.remediation.contract" in modules
    )
    script = BLOCKER.format(forbidden=set(FORBIDDEN), modules=modules)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(modules))


def test_the_blocker_does_refuse_an_adapter() -> None:
    """The check can fail: an adapter module that uses the database is refused."""
    script = BLOCKER.format(forbidden=set(FORBIDDEN), modules=["services.assessment.projections"])
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "domain code imported sqlalchemy" in result.stderr

"""What the dev stack runs and where: the service registry, ports and data directory, read from
the environment (see `Config.from_environment` for every variable)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every service the system knows, with its fixed local port; a service takes part in the stack
# once `services/<name>/__main__.py` exists.
SERVICE_REGISTRY: list[tuple[str, int]] = [
    ("assessment", 8001),
    ("remediation", 8002),
    ("buyer_sharing", 8003),
    ("notifications", 8004),
    ("advisory", 8005),
]
SERVICE_DATABASE = "betterwork"
DEFAULT_PG_PORT = 55432
DEFAULT_NATS_PORT = 54222


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    module: str  # run as `python -m <module> migrate|serve`

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _parse_registry(text: str) -> list[tuple[str, int]]:
    """`alpha=18001,beta=18002` → [("alpha", 18001), ("beta", 18002)]."""
    registry = []
    for item in text.split(","):
        name, _, port = item.strip().partition("=")
        if not name or not port.isdigit():
            raise ValueError(f"BW_DEVSTACK_SERVICES: expected name=port, got {item!r}")
        registry.append((name, int(port)))
    return registry


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str | None  # an existing server to use instead of embedded PostgreSQL
    nats_url: str | None  # an existing server to use instead of embedded NATS
    pg_port: int
    nats_port: int
    services: list[ServiceSpec]
    nats_cluster: int = 1  # embedded NATS nodes; more than one: a JetStream cluster on loopback
    # extra environment for every service (tests: subject prefix, compressed retry schedules)
    service_environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Config:
        """DATABASE_URL / NATS_URL: use these servers instead of embedded ones.
        BW_DATA_DIR: where embedded servers keep their data (default `<repo>/.data`).
        BW_EMBEDDED_PG_PORT / BW_EMBEDDED_NATS_PORT: embedded servers' ports (55432 / 54222).
        BW_SERVICES_PACKAGE: package holding the services (default `services`).
        BW_DEVSTACK_SERVICES: `name=port,…` replaces the service registry (tests use it).
        BW_NATS_CLUSTER: embedded NATS nodes (default 1; `up --nats-cluster 3` sets it)."""
        env = os.environ if environ is None else environ
        package = env.get("BW_SERVICES_PACKAGE", "services")
        registry = SERVICE_REGISTRY
        if env.get("BW_DEVSTACK_SERVICES"):
            registry = _parse_registry(env["BW_DEVSTACK_SERVICES"])
        package_dir = REPO_ROOT.joinpath(*package.split("."))
        services = [
            ServiceSpec(name=name, port=port, module=f"{package}.{name}")
            for name, port in registry
            if (package_dir / name / "__main__.py").exists()
        ]
        return cls(
            data_dir=Path(env.get("BW_DATA_DIR") or REPO_ROOT / ".data").absolute(),
            database_url=env.get("DATABASE_URL") or None,
            nats_url=env.get("NATS_URL") or None,
            pg_port=int(env.get("BW_EMBEDDED_PG_PORT") or DEFAULT_PG_PORT),
            nats_port=int(env.get("BW_EMBEDDED_NATS_PORT") or DEFAULT_NATS_PORT),
            services=services,
            nats_cluster=int(env.get("BW_NATS_CLUSTER") or 1),
        )

"""Which services exist, where they listen, and how the operator CLI reaches PostgreSQL, NATS and
each service's HTTP API (environment first, as the services themselves read it)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from libs.servicekit.settings import DEV_JWT_SECRET

# name → local port (the README's table); the schema and the stream are named after the service
SERVICE_PORTS = {
    "assessment": 8001,
    "remediation": 8002,
    "buyer_sharing": 8003,
    "notifications": 8004,
    "advisory": 8005,
}
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/betterwork"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


def runnable_services() -> list[str]:
    """The services with a `python -m services.<name>` entry point in this checkout."""
    return [name for name in SERVICE_PORTS if importlib.util.find_spec(f"services.{name}.__main__")]


def service_url(name: str) -> str:
    """`BW_<NAME>_URL` (e.g. BW_BUYER_SHARING_URL), else the local port on 127.0.0.1."""
    explicit = os.environ.get(f"BW_{name.upper()}_URL")
    return explicit.rstrip("/") if explicit else f"http://127.0.0.1:{SERVICE_PORTS[name]}"


@dataclass(frozen=True)
class Targets:
    database_url: str
    nats_url: str
    subject_prefix: str

    @classmethod
    def from_environment(cls) -> Targets:
        return cls(
            database_url=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            nats_url=os.environ.get("NATS_URL", DEFAULT_NATS_URL),
            subject_prefix=os.environ.get("BW_SUBJECT_PREFIX", ""),
        )


def jwt_secret() -> str:
    """The HS256 secret development tokens are minted with (the services' own default)."""
    return os.environ.get("BW_JWT_SECRET") or DEV_JWT_SECRET

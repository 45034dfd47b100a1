"""The five services as separate processes, started by the dev stack's own code (what
`python3 bw.py up` runs: migrations, then `python -m services.<name> serve` per service, ready on
`/readyz`), against the test's PostgreSQL database and NATS subject prefix, with compressed webhook
retries and loopback webhooks allowed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest

from tools.demo.story import Urls
from tools.devstack.config import SERVICE_REGISTRY, Config, ServiceSpec
from tools.devstack.output import OutputMux
from tools.devstack.stack import Devstack
from tools.embedded import free_port
from tools.postgres_admin import create_database, drop_database, with_database
from tools.testing import NATS_TIMEOUT, delete_streams, stream_name_prefix

JWT_SECRET = "end-to-end-tests-secret-of-at-least-32-bytes"
SERVICE_ENVIRONMENT = {
    "BW_JWT_SECRET": JWT_SECRET,
    "BW_REMEDIATION_SCHEDULER_ENABLED": "false",
    "BW_WEBHOOK_ALLOW": "127.0.0.0/8",
    "BW_WEBHOOK_ALLOW_HTTP": "true",
    # the Standard Webhooks schedule compressed to seconds, so a retry after a kill is quick
    "BW_WEBHOOK_RETRY_SCHEDULE": "0,0.5,1,1,2,2,2,2,2,2",
    "BW_WEBHOOK_TIMEOUT_SECONDS": "5",
    "BW_WEBHOOK_POLL_SECONDS": "0.2",
    "BW_EVENTS_POLL_SECONDS": "1",
    # what a service killed with -9 had fetched, or claimed for delivery, is due again after
    # seconds instead of 30
    "BW_EVENTS_ACK_WAIT_SECONDS": "5",
    "BW_WEBHOOK_LEASE_MARGIN_SECONDS": "3",
    # idle consumers as in production (the root conftest.py shortens this for in-process
    # services): an idle consumer checks its binding every fifth fetch, which a cluster that is
    # electing leaders answers slowly
    "BW_EVENTS_FETCH_SECONDS": "2",
    # the public training figures of one factory's sessions are shown (the stories of a module
    # train one factory each; by default a figure needs three)
    "BW_ADVISORY_FIGURES_MIN_FACTORIES": "1",
}


def urls_of(stack: Devstack) -> Urls:
    ports = {spec.name: spec.base_url for spec in stack.config.services}
    return Urls(**{name: ports[name] for name in vars(Urls())})


@asynccontextmanager
async def running_system(
    data_dir: Path, database_url: str, nats_url: str, subject_prefix: str, **environment: str
) -> AsyncIterator[Devstack]:
    """The five services running (migrated first) on free ports; stopped (SIGTERM, then SIGKILL)
    afterwards. Their interleaved logs go to stdout, which pytest shows when a test fails."""
    services = [
        ServiceSpec(name=name, port=free_port(), module=f"services.{name}")
        for name, _port in SERVICE_REGISTRY
    ]
    config = Config(
        data_dir=data_dir,
        database_url=database_url,
        nats_url=nats_url,
        pg_port=0,
        nats_port=0,
        services=services,
        service_environment={
            **SERVICE_ENVIRONMENT,
            "BW_SUBJECT_PREFIX": subject_prefix,
            **environment,
        },
    )
    stack = Devstack(config, OutputMux(["postgres", "nats", *(s.name for s in services)]))
    try:
        await stack.start_servers(with_nats=True)
        await stack.migrate()
        await stack.start_services()
        yield stack
    finally:
        await stack.shutdown()


@pytest.fixture(scope="module")
async def system(
    tmp_path_factory: pytest.TempPathFactory, pg_server_url: str, nats_server_url: str
) -> AsyncIterator[Devstack]:
    """One running system for the module's tests (starting five services and their migrations
    is most of an end-to-end test's time); each story uses its own factory and buyers, so they
    do not see each other. Own database and subject prefix, removed afterwards."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    prefix = f"t{uuid.uuid4().hex[:8]}."
    await create_database(pg_server_url, database)
    try:
        async with running_system(
            tmp_path_factory.mktemp("e2e"),
            with_database(pg_server_url, database),
            nats_server_url,
            prefix,
        ) as stack:
            yield stack
    finally:
        await drop_database(pg_server_url, database)
        with contextlib.suppress(OSError, TimeoutError, nats.errors.Error):
            await asyncio.wait_for(
                delete_streams(nats_server_url, stream_name_prefix(prefix)), NATS_TIMEOUT * 4
            )

"""The OpenAPI documents against the running services: schemathesis sends every operation of every
service generated requests (schema-valid and not), and no answer may be a server error, reject a
schema-valid request, use an undocumented status or content type, or break its response schema.

Each service runs as it does in production: uvicorn on a free port, with its lifespan connected to
the real PostgreSQL and NATS of the test, and the schemathesis command line sends real HTTP to it.
The run is seeded and single-worker, so CI sees the same requests on every run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from services.advisory.service import SERVICE as ADVISORY
from services.advisory.settings import AdvisorySettings
from services.advisory.tables import SCHEMA as ADVISORY_SCHEMA
from services.assessment.service import SERVICE as ASSESSMENT
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA as ASSESSMENT_SCHEMA
from services.buyer_sharing.service import SERVICE as BUYER_SHARING
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA as BUYER_SHARING_SCHEMA
from services.notifications.service import SERVICE as NOTIFICATIONS
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import SCHEMA as NOTIFICATIONS_SCHEMA
from services.remediation.projections import SCHEMA as REMEDIATION_SCHEMA
from services.remediation.service import SERVICE as REMEDIATION
from services.remediation.settings import RemediationSettings
from tools.embedded import free_port

pytestmark = pytest.mark.integration

ASSESSMENT_MIGRATIONS = Path(__file__).parents[1] / "services" / "assessment" / "migrations"
SECRET = "api-contract-tests-secret-of-at-least-32-bytes"
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 30.0
# Whole schemathesis run of one service; it normally takes about a minute (assessment, the
# largest, took 67 s on a busy machine and passed 100 s once the credentials came).
RUN_TIMEOUT = 240.0
MAX_EXAMPLES = 15
SEED = 20240601

# What every answer must satisfy; `schema_valid_request_passes_validation` is ours
# (tests/api_contract_hooks.py) and narrows the statuses allowed below for schema-valid requests.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "positive_data_acceptance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "schema_valid_request_passes_validation",
    ]
)
# A schema-valid request may still name a resource that does not exist (404), conflict with the
# state of one (409: completed, 412: another version), break a rule of the domain the document
# states in prose (422, narrowed by our check), or carry a cursor this API never issued (400).
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "412", "422"]

# A malformed If-Match is a 412 (RFC 9110: a precondition that cannot hold), not a 400.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "411", "412", "413", "414", "415", "422", "428"]
"""
REPOSITORY = Path(__file__).parents[1]


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` under uvicorn in a thread of its own (its own event loop, as in production)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        started = threading.Event()

        def wait_started() -> None:
            while not server.started and thread.is_alive():
                started.wait(0.05)

        waiter = threading.Thread(target=wait_started, daemon=True)
        waiter.start()
        waiter.join(STARTUP_TIMEOUT)
        if not server.started:
            raise RuntimeError(f"the service did not start within {STARTUP_TIMEOUT} s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)


async def run_schemathesis(base_url: str, token: str, workdir: Path) -> tuple[int, str]:
    """The schemathesis command line over every operation of the service at `base_url`."""
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        # dates carry both `format: date` and a year pattern: fewer drawn values fit
        "--suppress-health-check",
        "filter_too_much",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--header",
        f"Authorization: Bearer {token}",
        "--no-color",
        "--output-truncate",
        "false",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # reports and caches go to the test's own directory, never the working tree
        cwd=workdir,
        env={
            **os.environ,
            "PYTHONPATH": str(REPOSITORY),
            "SCHEMATHESIS_HOOKS": "tests.api_contract_hooks",
        },
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def check_service(
    app: FastAPI, token: str, seed: Callable[[httpx.Client], None], workdir: Path
) -> None:
    with serving(app) as base_url:
        with httpx.Client(base_url=base_url, timeout=10.0) as client:
            await asyncio.to_thread(seed, client)
        code, output = await run_schemathesis(base_url, token, workdir)
    assert code == 0, output


@pytest.fixture
async def assessment_settings(
    database_url: str, nats_url: str, subject_prefix: str
) -> AssessmentSettings:
    await asyncio.to_thread(run_migrations, database_url, ASSESSMENT_MIGRATIONS, ASSESSMENT_SCHEMA)
    return AssessmentSettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
    )


@pytest.fixture
async def remediation_settings(
    database_url: str, nats_url: str, subject_prefix: str
) -> AsyncIterator[RemediationSettings]:
    await asyncio.to_thread(
        run_migrations, database_url, REMEDIATION.migrations, REMEDIATION_SCHEMA
    )
    yield RemediationSettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
        scheduler_enabled=False,
    )


def admin_token() -> str:
    return mint_token(SECRET, "contract-admin", Role.ADMIN)


def no_seed(client: httpx.Client) -> None:
    """Nothing to create first."""


async def test_assessment_api_keeps_its_contract(
    assessment_settings: AssessmentSettings, tmp_path: Path
) -> None:
    app = ASSESSMENT.app(assessment_settings)
    await check_service(app, admin_token(), no_seed, tmp_path)


async def test_remediation_api_keeps_its_contract(
    remediation_settings: RemediationSettings, tmp_path: Path
) -> None:
    app = REMEDIATION.app(remediation_settings)
    await check_service(app, admin_token(), no_seed, tmp_path)


@pytest.fixture
async def buyer_sharing_settings(
    database_url: str, nats_url: str, subject_prefix: str
) -> BuyerSharingSettings:
    await asyncio.to_thread(
        run_migrations, database_url, BUYER_SHARING.migrations, BUYER_SHARING_SCHEMA
    )
    # the public pages' rate limit would turn schemathesis' many calls into 429s
    return BuyerSharingSettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
        BW_TRANSPARENCY_BURST=1_000_000,
    )


async def test_buyer_sharing_api_keeps_its_contract(
    buyer_sharing_settings: BuyerSharingSettings, tmp_path: Path
) -> None:
    app = BUYER_SHARING.app(buyer_sharing_settings)
    await check_service(app, admin_token(), no_seed, tmp_path)


@pytest.fixture
async def notifications_settings(
    database_url: str, nats_url: str, subject_prefix: str
) -> NotificationsSettings:
    await asyncio.to_thread(
        run_migrations, database_url, NOTIFICATIONS.migrations, NOTIFICATIONS_SCHEMA
    )
    # no deliveries: schemathesis checks the API, the dispatcher has its own tests
    return NotificationsSettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
        BW_WEBHOOK_DISPATCH=False,
    )


async def test_notifications_api_keeps_its_contract(
    notifications_settings: NotificationsSettings, tmp_path: Path
) -> None:
    app = NOTIFICATIONS.app(notifications_settings)
    await check_service(app, admin_token(), no_seed, tmp_path)


@pytest.fixture
async def advisory_settings(
    database_url: str, nats_url: str, subject_prefix: str
) -> AdvisorySettings:
    await asyncio.to_thread(run_migrations, database_url, ADVISORY.migrations, ADVISORY_SCHEMA)
    return AdvisorySettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
    )


async def test_advisory_api_keeps_its_contract(
    advisory_settings: AdvisorySettings, tmp_path: Path
) -> None:
    app = ADVISORY.app(advisory_settings)
    await check_service(app, admin_token(), no_seed, tmp_path)

"""The advisory OpenAPI document against the running service: schemathesis sends every operation
generated requests, schema-valid and not, with the checks and configuration of the other
services' contract tests (tests/test_api_contract.py, which the cross-service suite extends with
this service)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from libs.servicekit.migrations import run_migrations
from services.advisory.service import SERVICE
from services.advisory.settings import AdvisorySettings
from services.advisory.tables import SCHEMA
from tests.test_api_contract import SECRET, admin_token, check_service, no_seed


@pytest.fixture
async def contract_settings(
    database_url: str, nats_url: str, subject_prefix: str
) -> AdvisorySettings:
    await asyncio.to_thread(run_migrations, database_url, SERVICE.migrations, SCHEMA)
    return AdvisorySettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
    )


async def test_advisory_api_keeps_its_contract(
    contract_settings: AdvisorySettings, tmp_path: Path
) -> None:
    await check_service(SERVICE.app(contract_settings), admin_token(), no_seed, tmp_path)

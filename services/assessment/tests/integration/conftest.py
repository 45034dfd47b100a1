"""Fixtures for the assessment service's API tests: a migrated database, the app with its event
runtime against real PostgreSQL and NATS, an HTTP client and tokens for each role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from services.assessment.app import create_service_app
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA

MIGRATIONS = Path(__file__).parents[2] / "migrations"
SECRET = "assessment-tests-secret-of-at-least-32-bytes"

Headers = Callable[..., dict[str, str]]


@pytest.fixture
async def settings(database_url: str, nats_url: str, subject_prefix: str) -> AssessmentSettings:
    await asyncio.to_thread(run_migrations, database_url, MIGRATIONS, SCHEMA)
    return AssessmentSettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
    )


@pytest.fixture
async def app(settings: AssessmentSettings) -> AsyncIterator[FastAPI]:
    application = create_service_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://assessment") as http:
        yield http


@pytest.fixture
def auth() -> Headers:
    def headers(
        role: Role | str = Role.ASSESSOR, subject: str = "assessor-1", **claims: str
    ) -> dict[str, str]:
        token = mint_token(SECRET, subject, role, **claims)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    return headers

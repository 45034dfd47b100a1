"""Fixtures for the assessment service's API tests: a migrated database, the app built from the
service definition with its event runtime against real PostgreSQL and NATS, the assembled service,
an HTTP client and tokens for each role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from libs.servicekit.service import Service
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.service import SERVICE
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA

SECRET = "assessment-tests-secret-of-at-least-32-bytes"

Headers = Callable[..., dict[str, str]]


@pytest.fixture
async def settings(database_url: str, nats_url: str, subject_prefix: str) -> AssessmentSettings:
    await asyncio.to_thread(run_migrations, database_url, SERVICE.migrations, SCHEMA)
    return AssessmentSettings(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        BW_SUBJECT_PREFIX=subject_prefix,
        BW_JWT_SECRET=SECRET,
    )


@pytest.fixture
async def app(settings: AssessmentSettings) -> AsyncIterator[FastAPI]:
    application = SERVICE.app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


AssessmentService = Service[AssessmentSettings, Dependencies]


@pytest.fixture
def service(app: FastAPI) -> AssessmentService:
    """The assembled service: its dependencies, runtime, store and engine."""
    assessment: AssessmentService = app.state.service
    return assessment


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

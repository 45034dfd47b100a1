"""Two country programmes for the staff-scope tests (issue 22, finding 7): the headquarters' admin
(every country) sets up a Bangladeshi factory with an open and a completed assessment and a
Cambodian one with a completed assessment; an assessor of the Cambodian programme then acts."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import text

from libs.servicekit.auth import Role
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import (
    PROBLEM,
    completed_assessment,
    register,
    schedule,
)


@dataclass(frozen=True)
class Programmes:
    headquarters: dict[str, str]  # a global admin: countries "*"
    cambodia: dict[str, str]  # an assessor of the KH programme
    bd_factory: str
    bd_open: str  # scheduled, a finding recorded
    bd_report: str  # completed
    kh_factory: str
    kh_report: str


async def two_programmes(client: httpx.AsyncClient, auth: Headers) -> Programmes:
    headquarters = auth(Role.ADMIN, "hq-admin", countries="*")
    cambodia = auth(Role.ASSESSOR, "kh-assessor", countries=["KH"])
    as_hq = lambda: headquarters  # noqa: E731 - the steps take a headers factory
    bd_factory = await register(client, as_hq, name="Dhaka Knit", country="BD")
    kh_factory = await register(client, as_hq, name="Mekong Garments", country="KH")
    bd_report = await completed_assessment(client, as_hq, bd_factory)
    bd_open = await schedule(client, as_hq, bd_factory)
    kh_report = await completed_assessment(client, as_hq, kh_factory)
    return Programmes(
        headquarters=headquarters,
        cambodia=cambodia,
        bd_factory=bd_factory,
        bd_open=bd_open,
        bd_report=bd_report,
        kh_factory=kh_factory,
        kh_report=kh_report,
    )


async def stored_state(service: AssessmentService) -> tuple[int, int, int]:
    """Events, factory rows and assessment rows: a refused command changes none of them."""
    async with service.engine.connect() as connection:
        counts = [
            int(await connection.scalar(text(f"SELECT count(*) FROM assessment.{table}")) or 0)
            for table in ("event", "factory", "assessment")
        ]
    return counts[0], counts[1], counts[2]


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/not-found")

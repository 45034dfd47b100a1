"""`python -m services.assessment rebuild`: the read models rebuilt from the event store are the
ones the live projections wrote, row for row (response ids aside: they are assigned again, in the
same order per assessment)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import JSON, Table, Text, cast, select

from libs.servicekit.auth import Role
from libs.servicekit.service import RebuildContext
from services.assessment.service import SERVICE
from services.assessment.tables import (
    assessment,
    assessment_point,
    factory,
    finding,
    finding_response,
)
from services.assessment.tests.integration.conftest import AssessmentService, Headers
from services.assessment.tests.integration.steps import (
    completed_assessment,
    record,
    register,
    schedule,
)


def as_stored(table: Table) -> list[Any]:
    """The table's columns, JSON ones as their text: JSON 'null' and SQL NULL differ there."""
    return [
        cast(column, Text).label(column.name) if isinstance(column.type, JSON) else column
        for column in table.columns
    ]


async def rows(service: AssessmentService) -> dict[str, list[dict[str, Any]]]:
    orders = {
        "factory": (factory, [factory.c.factory_id]),
        "assessment": (assessment, [assessment.c.assessment_id]),
        "finding": (finding, [finding.c.assessment_id, finding.c.question_id]),
        "response": (finding_response, [finding_response.c.response_id]),
        "point": (
            assessment_point,
            [assessment_point.c.assessment_id, assessment_point.c.compliance_point_id],
        ),
    }
    async with service.engine.connect() as connection:
        found = {
            name: [
                dict(row)
                for row in (
                    await connection.execute(select(*as_stored(table)).order_by(*order))
                ).mappings()
            ]
            for name, (table, order) in orders.items()
        }
    for row in found["response"]:
        del row["response_id"]
    return found


async def test_rebuilt_read_models_equal_the_live_ones(
    client: httpx.AsyncClient, auth: Headers, service: AssessmentService
) -> None:
    factory_id = await register(client, auth)
    updated = await client.patch(
        f"/v1/factories/{factory_id}", json={"name": "Renamed Garments"}, headers=auth()
    )
    assert updated.status_code == 200, updated.text
    await register(client, auth)
    first = await completed_assessment(client, auth, factory_id)
    corrected = await client.post(
        f"/v1/assessments/{first}/findings/OSH-EMP-01/corrections",
        json={"result": "non_compliant", "evidence": "exit chained", "reason": "photo reviewed"},
        headers=auth(),
    )
    assert corrected.status_code == 201, corrected.text
    factory_user = auth(role=Role.FACTORY, subject="factory-user", factory_id=factory_id)
    for body in (
        {"text": "a new exit is on order"},
        {"kind": "dispute", "text": "the exit was open", "reason": "video of the day"},
    ):
        responded = await client.post(
            f"/v1/assessments/{first}/findings/OSH-EMP-03/responses",
            json=body,
            headers=factory_user,
        )
        assert responded.status_code == 201, responded.text
    second = await schedule(client, auth, factory_id)
    await record(client, auth, second, "OSH-EMP-01", "non_compliant")
    await record(client, auth, second, "OSH-EMP-01")  # recorded again: the latest counts
    live = await rows(service)
    assert len(live["factory"]) == 2 and len(live["response"]) == 2
    assert any(row["corrected"] for row in live["finding"])
    assert {row["assessment_id"] for row in live["point"]} == {first}  # completed ones only
    assert sum(row["non_compliant"] for row in live["point"]) == 2  # as corrected

    progress: list[tuple[str, int, int]] = []
    assert SERVICE.rebuild is not None  # what `python -m services.assessment rebuild` runs
    context = RebuildContext(
        service.settings,
        service.engine,
        service.registry,
        lambda phase, done, total: progress.append((phase, done, total)),
    )
    report = await SERVICE.rebuild(context)

    assert await rows(service) == live
    findings = len(live["finding"])
    assert report.summary() == f"2 factories, 2 assessments, {findings} findings, 2 responses"
    assert progress[-1] == ("events", report.events, report.events) and report.events > findings

"""The rebuild (`python -m services.notifications rebuild`): the endpoint read model made again
from the service's own event history is the live one, row by row, whatever was in the table
before; the tables that are not projections of its own events (secrets, grants, the delivery
state and log) are left as they are."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from libs.servicekit.service import RebuildContext
from services.notifications.commands import DisableEndpoint
from services.notifications.service import SERVICE
from services.notifications.tables import endpoint
from services.notifications.tests.integration.conftest import Running

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[4]
URL = "http://127.0.0.1:9/hook"
KEPT = ("webhook_secret", "grant_event", "message", "attempt", "held_event")


async def _endpoint_rows(service: Running) -> list[dict[str, Any]]:
    async with service.assembled.engine.connect() as connection:
        rows = await connection.execute(select(endpoint).order_by(endpoint.c.endpoint_id))
        return [dict(row) for row in rows.mappings()]


async def _kept_counts(service: Running) -> dict[str, int]:
    return {table: await service.scalar(f"SELECT count(*) FROM {{S}}.{table}") for table in KEPT}


async def _endpoints_in_every_state(service: Running) -> None:
    """Registered; changed, disabled and enabled again; rotated and disabled; deleted; disabled
    by the dispatcher (410): every event the projection knows."""
    a = service.buyer("brand-a")
    first = await service.register("brand-a", URL, description="first")
    path = f"/v1/webhook-endpoints/{first['endpoint_id']}"
    changes: list[dict[str, Any]] = [
        {"description": "second", "factory_ids": ["fac-2"], "enabled": False},
        {"factory_ids": None, "event_types": ["NonComplianceFound"], "enabled": True},
    ]
    for change in changes:
        changed = await service.client.patch(path, json=change, headers=a)
        assert changed.status_code == 200, changed.text
    second = await service.register(
        "brand-b", URL, ["AssessmentCompleted", "SharingRevoked"], factory_ids=["fac-1"]
    )
    b = service.buyer("brand-b")
    path = f"/v1/webhook-endpoints/{second['endpoint_id']}"
    rotated = await service.client.post(f"{path}/rotate-secret", json={}, headers=b)
    assert rotated.status_code == 200, rotated.text
    tested = await service.client.post(f"{path}/test", headers=b)
    assert tested.status_code == 202, tested.text
    disabled = await service.client.patch(path, json={"enabled": False}, headers=b)
    assert disabled.status_code == 200, disabled.text
    third = await service.register("brand-a", URL)
    deleted = await service.client.delete(
        f"/v1/webhook-endpoints/{third['endpoint_id']}", headers=a
    )
    assert deleted.status_code == 204, deleted.text
    fourth = await service.register("brand-c", URL)
    await service.assembled.run(
        DisableEndpoint(endpoint_id=fourth["endpoint_id"], reason="gone", detail="410")
    )
    await service.granted("fac-1", "brand-b")


async def test_the_rebuilt_endpoint_read_model_is_the_live_one(service: Running) -> None:
    await _endpoints_in_every_state(service)
    live = await _endpoint_rows(service)
    assert len(live) == 4 and {row["disabled_reason"] for row in live} == {None, "manual", "gone"}
    kept = await _kept_counts(service)
    # the rebuild makes the rows again rather than keeping them: spoil the table first
    async with service.assembled.engine.begin() as connection:
        await connection.execute(text("UPDATE notifications.endpoint SET description = 'x'"))
        await connection.execute(
            text("DELETE FROM notifications.endpoint WHERE endpoint_id = :e"),
            {"e": live[0]["endpoint_id"]},
        )
    assert await _endpoint_rows(service) != live
    phases: list[tuple[str, int, int]] = []
    assert SERVICE.rebuild is not None
    report = await SERVICE.rebuild(
        RebuildContext(
            service.settings,
            service.assembled.engine,
            SERVICE.events(),
            lambda phase, done, total: phases.append((phase, done, total)),
        )
    )
    assert await _endpoint_rows(service) == live
    assert await _kept_counts(service) == kept
    events = await service.scalar("SELECT count(*) FROM {S}.event")
    assert (report.events, report.summary()) == (events, "4 webhook endpoints")
    assert phases[-1] == ("events", events, events)


async def test_the_command_line_rebuilds_on_an_empty_history_too(
    migrated_database: str, service: Running
) -> None:
    """`python -m services.notifications rebuild`, as an operator runs it (tools/ops too)."""
    environment = {
        **os.environ,
        "DATABASE_URL": migrated_database,
        "BW_ENVIRONMENT": "development",
    }

    async def rebuild() -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.notifications",
            "rebuild",
            cwd=ROOT,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, output.decode()
        return output.decode()

    assert "rebuilt from 0 events" in await rebuild()
    await service.register("brand-a", URL)
    live = await _endpoint_rows(service)
    assert "1 webhook endpoints" in await rebuild()
    assert await _endpoint_rows(service) == live

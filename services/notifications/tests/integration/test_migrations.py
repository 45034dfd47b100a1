"""Migration 0003 (issue 22) on a database that already holds what the rules now forbid: scheduled
assessments and plan drafts leave the message log (with their attempts and held copies), an
endpoint no longer lists `AssessmentScheduled`, and the rule `buyer_may_read` is in place. And
the migrated schema is what tables.py describes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from libs.servicekit.migrations import alembic_config, schema_drift
from libs.servicekit.settings import async_database_url
from services.notifications.tables import SCHEMA, metadata

MIGRATIONS = Path(__file__).parents[2] / "migrations"
AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _body(name: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"type": f"org.betterwork.x.{name}.v1", "data": data}).encode()


MESSAGES = {
    "msg_scheduled": ("AssessmentScheduled", _body("AssessmentScheduled", {"factory_id": "f"})),
    "msg_draft": (
        "ImprovementPlanUpdated",
        _body("ImprovementPlanUpdated", {"progress": {"published": False}}),
    ),
    "msg_no_progress": ("ImprovementPlanUpdated", _body("ImprovementPlanUpdated", {})),
    "msg_purged_update": ("ImprovementPlanUpdated", None),
    "msg_published": (
        "ImprovementPlanUpdated",
        _body("ImprovementPlanUpdated", {"progress": {"published": True}}),
    ),
    "msg_completed": ("AssessmentCompleted", _body("AssessmentCompleted", {"factory_id": "f"})),
}


async def _given_the_old_log(connection: AsyncConnection) -> None:
    s = SCHEMA
    await connection.execute(
        text(
            f'INSERT INTO "{s}".endpoint VALUES (:e, :b, :u, :types, NULL, :d, true, NULL, false, '
            ":fp, :at, :at, 1)"
        ),
        {
            "e": "ep_1",
            "b": "brand-a",
            "u": "https://hooks.example/bw",
            "types": ["AssessmentScheduled", "AssessmentCompleted"],
            "d": "",
            "fp": "f" * 16,
            "at": AT,
        },
    )
    for message_id, (event_type, payload) in MESSAGES.items():
        await connection.execute(
            text(
                f'INSERT INTO "{s}".message (message_id, endpoint_id, buyer_id, event_id, '
                "event_type, factory_id, gated, event_time, payload, created_at, status, "
                "attempts, round_attempts) VALUES (:m, 'ep_1', 'brand-a', :m, :t, 'f', true, "
                ":at, :p, :at, 'succeeded', 1, 1)"
            ),
            {"m": message_id, "t": event_type, "p": payload, "at": AT},
        )
        await connection.execute(
            text(
                f'INSERT INTO "{s}".attempt (message_id, endpoint_id, attempted_at, status_code, '
                "latency_ms, succeeded, trigger) VALUES (:m, 'ep_1', :at, 200, 5, true, "
                "'scheduled')"
            ),
            {"m": message_id, "at": AT},
        )
    await connection.execute(
        text(f"INSERT INTO \"{s}\".held_event VALUES (:e, 'f', :t, :at, :p, :at, :at)"),
        {"e": "held-1", "t": "AssessmentScheduled", "p": b"{}", "at": AT},
    )


async def test_0003_removes_what_no_buyer_may_have_and_keeps_the_rest(database_url: str) -> None:
    config = alembic_config(database_url, MIGRATIONS, SCHEMA)
    await asyncio.to_thread(command.upgrade, config, "0002")
    engine = create_async_engine(async_database_url(database_url))
    try:
        async with engine.begin() as connection:
            await _given_the_old_log(connection)
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as connection:
            kept = (
                await connection.execute(
                    text(f'SELECT message_id FROM "{SCHEMA}".message ORDER BY message_id')
                )
            ).scalars()
            assert list(kept) == ["msg_completed", "msg_published"]
            attempts = await connection.execute(
                text(f'SELECT message_id FROM "{SCHEMA}".attempt ORDER BY message_id')
            )
            assert list(attempts.scalars()) == ["msg_completed", "msg_published"]
            assert await connection.scalar(text(f'SELECT count(*) FROM "{SCHEMA}".held_event')) == 0
            types = await connection.scalar(
                text(f"SELECT event_types FROM \"{SCHEMA}\".endpoint WHERE endpoint_id = 'ep_1'")
            )
            assert types == ["AssessmentCompleted"]
            # no grant in force: a factory's message is not the buyer's to read; its own is
            rule = f'"{SCHEMA}".buyer_may_read'
            assert await connection.scalar(text(f"SELECT {rule}(true, 'f', 'brand-a')")) is False
            assert await connection.scalar(text(f"SELECT {rule}(false, NULL, 'brand-a')")) is True
    finally:
        await engine.dispose()
    assert await schema_drift(database_url, SCHEMA, metadata) == []
    await asyncio.to_thread(command.downgrade, config, "0002")

"""Givens of the history tests: an imported assessment's events as the assessment service's relay
publishes them (`importedfrom` the bundle, `time` the report's business time), the events this
service stored with their business time and origin, and import requests."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy import text

from libs.domain.envelope import Envelope
from libs.domain.history.bundle import at_noon, imported_id
from libs.servicekit.auth import Role
from services.remediation.tests.integration.conftest import Service, assessment_events, poll
from tools.testkit import publish_as_relays

BUNDLE = "kh-history-2001-2010"
CHECKSUM = "sha256:" + "b" * 64


def factory_of(source_id: str) -> str:
    return imported_id("factories", source_id)


def assessment_of(source_id: str) -> str:
    return imported_id("assessments", source_id)


def imported_assessment(
    factory: str,
    assessment: str,
    cycle: int,
    report_date: date,
    findings: list[tuple[str, bool, bool]],
    *,
    country: str = "KH",
    bundle: str | None = BUNDLE,
) -> list[Envelope]:
    """The completion and findings of the assessment `assessment` (a source id) of `factory` (a
    source id), as imported from `bundle` (None: a live assessment, at the same ids)."""
    envelopes = assessment_events(
        factory_of(factory),
        assessment_of(assessment),
        cycle,
        report_date,
        findings,
        country=country,
    )
    if bundle is None:
        return envelopes
    return [
        envelope.model_copy(update={"importedfrom": bundle, "time": at_noon(report_date)})
        for envelope in envelopes
    ]


async def publish(service: Service, envelopes: list[Envelope]) -> None:
    await publish_as_relays(service.runtime.nats, service.settings.subject_prefix, envelopes)


async def items_of(service: Service, factory_id: str, count: int) -> list[dict[str, Any]]:
    """The plan's items, once it has `count` of them (by cycle and question)."""
    headers = service.token(Role.ADMIN)

    async def ready() -> list[dict[str, Any]] | None:
        response = await service.client.get(
            f"/v1/improvement-plans/{factory_id}/items", headers=headers, params={"limit": 200}
        )
        found: list[dict[str, Any]] = (
            response.json()["items"] if response.status_code == 200 else []
        )
        return found if len(found) == count else None

    found: list[dict[str, Any]] = await poll(ready)
    return sorted(found, key=lambda item: (item["cycle"], item["question_id"]))


async def stored(service: Service, event_name: str) -> list[dict[str, Any]]:
    """Every stored event of `event_name`, in order: its data, business time (`occurred_at`,
    None for a live one: it happened when recorded) and import origin."""
    async with service.deps.store.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT data, metadata FROM remediation.event "
                "WHERE event_type LIKE :type ORDER BY position"
            ),
            {"type": f"%.{event_name}.%"},
        )
        return [
            {
                "data": data,
                "occurred_at": metadata.get("occurred_at"),
                "imported": metadata.get("imported"),
            }
            for data, metadata in rows
        ]


async def event_count(service: Service) -> int:
    async with service.deps.store.engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM remediation.event"))
    return int(count or 0)


async def ledger(service: Service) -> list[tuple[str, str]]:
    async with service.deps.store.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT kind, source_id FROM remediation.import_record ORDER BY 1, 2")
        )
        return [(row[0], row[1]) for row in rows]


async def import_records(
    service: Service,
    kind: str,
    records: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = "\n".join(json.dumps(record) for record in records).encode()
    return await service.client.post(
        f"/v1/imports/{kind}",
        content=body,
        headers={
            **(headers or service.token(Role.ADMIN, subject="importer", countries=["KH"])),
            "Content-Type": "application/x-ndjson",
            "Import-Bundle": BUNDLE,
            "Import-Bundle-Checksum": CHECKSUM,
        },
    )


def noon(day: date) -> str:
    """A business time as the store's metadata writes it."""
    return at_noon(day).isoformat()


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)

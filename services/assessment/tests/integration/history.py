"""A small history bundle for the import tests, written as a programme would: factories with their
workforce by year and completed assessments answering every question of the catalogue in force
on their day; and the request an integrator sends for it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import httpx
from sqlalchemy import text

from libs.servicekit.auth import Role
from services.assessment.compliance_catalogue import load_library
from services.assessment.ids import CROCKFORD
from services.assessment.tests.integration.conftest import AssessmentService, Headers

LIBRARY = load_library()
BUNDLE = "KH-history-2026"
CHECKSUM = "sha256:" + "ab" * 32
NON_COMPLIANT = ("OSH-EMP-01", "COM-MIN-01")


def os_id(country: str, serial: str = "Q2JMG") -> str:
    """A valid Open Supply Hub ID of `country` (its check character computed)."""
    body = f"{country}2019257{serial}"
    total = ord(body[0]) + ord(body[1]) + sum(CROCKFORD.index(c) for c in body[2:])
    return body + CROCKFORD[total % 32]


def factory_record(source_id: str, **changes: Any) -> dict[str, Any]:
    record = {
        "source_id": source_id,
        "name": f"Factory {source_id}",
        "country": "KH",
        "address": "Street 2004, Phnom Penh",
        "sector_isic": "1410",
        "registered_on": "2003-03-05",
        "workforce": [
            {"year": 2003, "women": 800, "men": 200},
            {"year": 2004, "women": 900, "men": 220},
            {"year": 2005, "women": 950, "men": 240},
        ],
    }
    return {**record, **changes}


def findings_for(
    assessed_on: date, country: str = "KH", non_compliant: Sequence[str] = NON_COMPLIANT
) -> list[dict[str, Any]]:
    """Every question of the catalogue in force on the day, as a programme answers them."""
    catalogue = LIBRARY.resolve(LIBRARY.version_in_force(assessed_on), country)
    assert catalogue is not None
    return [
        {
            "question_id": entry.question.id,
            "compliant": entry.question.id not in non_compliant,
            "evidence": "seen on site" if entry.question.id in non_compliant else "",
        }
        for entry in catalogue.questions()
    ]


def assessment_record(
    source_id: str, factory: str, cycle: int, assessed_on: date, **changes: Any
) -> dict[str, Any]:
    record = {
        "source_id": source_id,
        "factory": factory,
        "cycle": cycle,
        "assessed_on": assessed_on.isoformat(),
        "report_date": date(assessed_on.year, assessed_on.month, 28).isoformat(),
        "findings": findings_for(assessed_on),
    }
    return {**record, **changes}


def three_years(factories: Iterable[str]) -> list[dict[str, Any]]:
    """Each factory assessed in 2003, 2005 and 2008 (the 2008 one under catalogue 2008.1, with a
    correction and a dispute)."""
    records = []
    for factory in factories:
        for cycle, day in enumerate((date(2003, 6, 2), date(2005, 6, 6), date(2008, 9, 1)), 1):
            record = assessment_record(f"{factory}-A{cycle}", factory, cycle, day)
            if cycle == 3:
                record["corrections"] = [
                    {
                        "question_id": "OSH-EMP-02",
                        "corrected_on": "2008-10-15",
                        "compliant": False,
                        "reason": "the photos show a blocked exit",
                    }
                ]
                record["responses"] = [
                    {
                        "question_id": "COM-MIN-01",
                        "responded_on": "2008-10-02",
                        "text": "the wage was paid late, not short",
                        "disputes": True,
                    }
                ]
            records.append(record)
    return records


FACTORIES = ("KH-F-1", "KH-F-2")


def admin(auth: Headers, countries: str | list[str] = "*") -> dict[str, str]:
    """An admin's headers (every country unless told)."""
    return auth(Role.ADMIN, "kh-admin", countries=countries)


async def imported(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Two factories and their three years of assessments imported."""
    factories = await send(client, headers, "factories", [factory_record(f) for f in FACTORIES])
    assert factories.status_code == 200, factories.text
    assessments = await send(client, headers, "assessments", three_years(FACTORIES))
    assert assessments.status_code == 200, assessments.text


def jsonl(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


async def send(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    kind: str,
    records: Iterable[dict[str, Any]] | bytes,
    *,
    bundle: str = BUNDLE,
    first_line: int = 1,
) -> httpx.Response:
    body = records if isinstance(records, bytes) else jsonl(records)
    return await client.post(
        f"/v1/imports/{kind}",
        content=body,
        params={"first_line": first_line},
        headers={
            **headers,
            "Content-Type": "application/x-ndjson",
            "Import-Bundle": bundle,
            "Import-Bundle-Checksum": CHECKSUM,
        },
    )


async def counts(service: AssessmentService) -> dict[str, int]:
    """Rows of the event store, the read models and the ledger."""
    # not the outbox: the relay empties it as it publishes
    tables = ("event", "stream", "factory", "assessment", "finding", "import_record", "snapshot")
    async with service.engine.connect() as connection:
        return {
            table: int(await connection.scalar(text(f"SELECT count(*) FROM assessment.{table}")))
            for table in tables
        }

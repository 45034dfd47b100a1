"""A small programme's past for the history import tests: factories of the bundle made known as
the assessment service's (imported) events, and training sessions and visits as bundle records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import httpx

from libs.domain.envelope import Envelope
from services.advisory.domain.history import factory_id
from services.advisory.tests.integration.conftest import Service, poll

BUNDLE = "bfc-history-2010"


def imported(envelope: Envelope, day: date) -> Envelope:
    """The envelope as the assessment service publishes an imported fact of `day`."""
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return envelope.model_copy(update={"time": moment, "importedfrom": BUNDLE})


async def factories_known(service: Service, *sources: tuple[str, str]) -> None:
    """The bundle's factories (source id, country), registered by the assessment service's
    import in 2003 and published to this service."""
    upstream = service.upstream
    await service.publish(
        *(
            imported(upstream.factory(factory_id(source), country), date(2003, 1, 15))
            for source, country in sources
        )
    )
    await poll(service.caught_up)


def attendee(
    factory: str, days: int, role: str = "worker", gender: str = "female"
) -> dict[str, Any]:
    return {"factory": factory, "role": role, "gender": gender, "days_attended": days}


def session(
    source_id: str,
    course_code: str,
    factories: list[str],
    start: str,
    end: str,
    *attendees: dict[str, Any],
    **fields: Any,
) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "course_code": course_code,
        "factories": factories,
        "start_date": start,
        "end_date": end,
        "language": "km",
        "attendees": list(attendees),
        **fields,
    }


def visit(
    source_id: str, factory: str, visited_on: str, days: float, purpose: str = "committee_support"
) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "factory": factory,
        "visited_on": visited_on,
        "duration_days": days,
        "purpose": purpose,
        "notes": "Met the committee.",
    }


# 2004: SST (4 days) at F1, two of three attended every day; 2005: an open OSH session (2 days)
# at F1 and F2; 2006: WRR (1 day), from New Year's Eve to New Year's Day, counts in 2006
SESSIONS = [
    session(
        "S-2004-01",
        "SST",
        ["KH-F1"],
        "2004-03-01",
        "2004-03-04",
        attendee("KH-F1", 4, "supervisor"),
        attendee("KH-F1", 4, "supervisor", "male"),
        attendee("KH-F1", 2, "supervisor"),
        trainer="Sokha",
    ),
    session(
        "S-2005-01",
        "OSH",
        ["KH-F1", "KH-F2"],
        "2005-05-10",
        "2005-05-11",
        attendee("KH-F1", 2),
        attendee("KH-F2", 2, gender="male"),
        attendee("KH-F2", 1, "committee_member"),
    ),
    session(
        "S-2006-01",
        "WRR",
        ["KH-F3"],
        "2005-12-31",
        "2006-01-01",
        attendee("KH-F3", 1),
        attendee("KH-F3", 1),
    ),
]
VISITS = [
    visit("V-2004-01", "KH-F1", "2004-06-15", 1.5),
    visit("V-2006-01", "KH-F2", "2006-02-01", 0.5, "improvement_plan"),
]


def lines(records: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(record) for record in records).encode()


async def post(
    service: Service,
    kind: str,
    records: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await service.client.post(
        f"/v1/imports/{kind}",
        content=lines(records),
        headers={
            "Content-Type": "application/x-ndjson",
            "Import-Bundle": BUNDLE,
            **(headers if headers is not None else service.admin),
        },
    )


def noon(day: str) -> str:
    return f"{day}T12:00:00Z"

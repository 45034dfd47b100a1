"""A country programme's past, as the buyer sharing tests give it: the assessment service's
imported events of 2001-2005 (seven Cambodian factories assessed once a year, one Vietnamese
factory; `importedfrom` set, `time` the day they happened), and the buyers, grants and reliance
declarations of the history bundle, sent to the import endpoints as JSON Lines."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import httpx

from libs.domain.envelope import Envelope
from libs.domain.history.bundle import at_noon, imported_id
from services.buyer_sharing.tests.integration.conftest import Service, Upstream

BUNDLE = "bfc-history-2001-2005"
OK, NC = "compliant", "non_compliant"
CAMBODIA = [f"F{n}" for n in range(1, 8)]
OUTLIER = "F7"  # far below the others in 2002 (two assessments then) and 2005 (five)
VIETNAM = "V1"
YEARS = range(2001, 2006)


def factory(source_id: str) -> str:
    return imported_id("factories", source_id)


def buyer(source_id: str) -> str:
    return imported_id("buyers", source_id)


def assessment(source_id: str) -> str:
    return imported_id("assessments", source_id)


def reliance(source_id: str) -> str:
    return imported_id("reliances", source_id)


def compliant_questions(source_id: str, year: int) -> int:
    """Of ten questions: the programme improves a question a year; the outlier lags far behind
    in 2002 and 2005."""
    if source_id == OUTLIER and year == 2002:
        return 2
    if source_id == OUTLIER and year == 2005:
        return 4
    return 6 + (year - 2001)


def imported(envelope: Envelope, day: date) -> Envelope:
    """`envelope` as the assessment service publishes an imported fact of `day`."""
    return envelope.model_copy(
        update={
            "time": at_noon(day),
            "recordedtime": datetime.now(UTC),
            "importedfrom": BUNDLE,
        }
    )


def the_past(upstream: Upstream) -> list[Envelope]:
    """Every factory registered in 2001 and assessed on 1 March of each year 2001-2005, cycle by
    cycle; F1's reports arrive newest first (the newest report is the newest by its date, not by
    its arrival)."""
    events = []
    for source_id in [*CAMBODIA, VIETNAM]:
        country = "VN" if source_id == VIETNAM else "KH"
        events.append(imported(upstream.factory(factory(source_id), country), date(2001, 1, 10)))
        reports = []
        for cycle, year in enumerate(YEARS, start=1):
            compliant = compliant_questions(source_id, year)
            results = [(f"Q{n:02d}", n == 0, False, OK if n < compliant else NC) for n in range(10)]
            report_date = date(year, 3, 1)
            reports.append(
                [
                    imported(envelope, report_date)
                    for envelope in upstream.assessment(
                        factory(source_id),
                        assessment(f"{source_id}-{year}"),
                        cycle,
                        report_date,
                        results,
                        country,
                    )
                ]
            )
        if source_id == "F1":
            reports.reverse()
        events += [envelope for report in reports for envelope in report]
    return events


def buyer_record(source_id: str, joined_on: str) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "name": f"Brand {source_id}",
        "country": "US",
        "contact_name": "Sourcing lead",
        "contact_email": f"sourcing@{source_id.lower()}.example",
        "joined_on": joined_on,
    }


BUYERS = [
    buyer_record("B1", "2001-06-01"),
    buyer_record("B2", "2002-01-01"),
    buyer_record("B3", "2003-01-01"),  # never granted anything
]
GRANTS: list[dict[str, Any]] = [
    # F1 and B1: two periods, the second first in the file (a pair's grants go by their days)
    {
        "source_id": "G2",
        "buyer": "B1",
        "factory": "F1",
        "granted_on": "2003-03-01",
        "revoked_on": "2004-06-30",
    },
    {
        "source_id": "G1",
        "buyer": "B1",
        "factory": "F1",
        "granted_on": "2001-07-01",
        "ends_on": "2002-12-31",
        "reason": "first buyer of the programme",
    },
    {"source_id": "G3", "buyer": "B1", "factory": "F2", "granted_on": "2002-01-15"},
    {
        "source_id": "G4",
        "buyer": "B2",
        "factory": "F3",
        "granted_on": "2002-02-01",
        "ends_on": "2006-12-31",
    },
]
RELIANCES: list[dict[str, Any]] = [
    {
        "source_id": "R1",
        "buyer": "B1",
        "factory": "F1",
        "assessment": "F1-2001",
        "declared_on": "2002-01-10",
        "period_start": "2002-01-01",
        "period_end": "2002-12-31",
    },
    {  # ended by the revocation of 2004-06-30, as the live system would have ended it
        "source_id": "R2",
        "buyer": "B1",
        "factory": "F1",
        "assessment": "F1-2003",
        "declared_on": "2003-04-01",
        "period_start": "2003-04-01",
        "period_end": "2005-03-31",
    },
    {
        "source_id": "R3",
        "buyer": "B2",
        "factory": "F3",
        "assessment": "F3-2002",
        "declared_on": "2002-06-01",
        "period_start": "2002-06-01",
        "period_end": "2003-05-31",
        "withdrawn_on": "2003-01-15",
        "note": "the programme's report replaces our audit",
    },
]


async def import_records(
    service: Service,
    kind: str,
    records: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
    bundle: str = BUNDLE,
) -> httpx.Response:
    """`POST /v1/imports/<kind>` with the records as JSON Lines (as an admin unless told)."""
    return await service.client.post(
        f"/v1/imports/{kind}",
        content="\n".join(json.dumps(record) for record in records).encode(),
        headers={
            **(service.admin if headers is None else headers),
            "Import-Bundle": bundle,
            "Content-Type": "application/x-ndjson",
        },
    )


async def import_the_history(service: Service) -> None:
    """The bundle's buyers, grants and reliances, in the bundle's order of kinds."""
    for kind, records in (("buyers", BUYERS), ("grants", GRANTS), ("reliances", RELIANCES)):
        response = await import_records(service, kind, records)
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == len(records)

"""The small Cambodian programme of the results tests (test_programme_results.py): its upstream
history as an imported one (past business times, `importedfrom`), and its grants and reliance
declarations made through the API at their dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import httpx
from sqlalchemy import text

from libs.domain.envelope import Envelope
from libs.domain.history.bundle import at_noon
from services.buyer_sharing.tests.integration.advisory_events import Advisory
from services.buyer_sharing.tests.integration.conftest import Service, Upstream, poll

RESULTS = "/v1/programme/results"
BUNDLE = "bfc-history-1"
OK, NC = "compliant", "non_compliant"


def imported(envelope: Envelope, day: date) -> Envelope:
    """The envelope as an imported fact's: it happened on `day`, and came from the bundle."""
    return envelope.model_copy(update={"time": at_noon(day), "importedfrom": BUNDLE})


def factory(upstream: Upstream, factory_id: str, country: str, women: int, men: int) -> Envelope:
    registered = upstream.factory(factory_id, country)
    data = {**registered.data, "workforce": {"women": women, "men": men}}
    return registered.model_copy(update={"data": data})


def workforce_update(
    upstream: Upstream, factory_id: str, country: str, women: int, men: int
) -> Envelope:
    return upstream.envelope(
        "assessment",
        "FactoryUpdated",
        f"factory-{factory_id}",
        factory_id,
        {
            "factory_id": factory_id,
            "name": f"Factory {factory_id}",
            "country": country,
            "address": "Phnom Penh",
            "sector_isic": "1410",
            "workforce": {"women": women, "men": men},
            "os_id": None,
        },
    )


def assessment(
    upstream: Upstream,
    factory_id: str,
    assessment_id: str,
    cycle: int,
    report_date: date,
    results: dict[str, str],
    country: str = "KH",
) -> list[Envelope]:
    answers = [(question, False, False, result) for question, result in results.items()]
    envelopes = upstream.assessment(factory_id, assessment_id, cycle, report_date, answers, country)
    return [imported(envelope, report_date) for envelope in envelopes]


def correction(upstream: Upstream, factory_id: str, assessment_id: str, on: date) -> Envelope:
    """WT-OVT-01 was non-compliant after all."""
    corrected = upstream.finding_event(
        "FindingCorrected",
        factory_id,
        assessment_id,
        {
            "question_id": "WT-OVT-01",
            "result_before": OK,
            "result_after": NC,
            "evidence": "overtime records",
            "reason": "records found after the visit",
            "corrected_by": "assessor-1",
        },
    )
    return imported(corrected, on)


def upstream_history(upstream: Upstream) -> list[Envelope]:
    """Factories f1-f3 in Cambodia and f9 in Bangladesh; seven Cambodian assessments (one of
    f9); training and advisory work."""
    envelopes = [
        imported(factory(upstream, "f1", "KH", 800, 200), date(2022, 1, 10)),
        imported(workforce_update(upstream, "f1", "KH", 900, 300), date(2023, 1, 1)),
        # later in 2023 than f1's report of that year: counts from 2024 on
        imported(workforce_update(upstream, "f1", "KH", 1000, 400), date(2023, 9, 1)),
        imported(factory(upstream, "f2", "KH", 300, 100), date(2022, 2, 1)),
        imported(factory(upstream, "f3", "KH", 50, 50), date(2023, 5, 1)),
        imported(factory(upstream, "f9", "BD", 5000, 5000), date(2022, 1, 3)),
    ]
    osh, wt, chl = "OSH-EMG-01", "WT-OVT-01", "CHL-CHI-01"
    envelopes += assessment(upstream, "f1", "a1", 1, date(2022, 3, 15), {osh: NC, wt: OK})
    envelopes += assessment(upstream, "f2", "a2", 1, date(2022, 6, 20), {osh: OK, wt: NC})
    envelopes += assessment(upstream, "f1", "a3", 2, date(2023, 3, 15), {osh: NC, wt: OK})
    envelopes += assessment(upstream, "f2", "a4", 2, date(2023, 4, 10), {osh: OK, wt: OK})
    envelopes += assessment(upstream, "f3", "a5", 1, date(2023, 11, 20), {osh: NC, chl: OK})
    envelopes += assessment(upstream, "f1", "a6", 3, date(2024, 2, 1), {osh: OK, wt: OK})
    envelopes += assessment(upstream, "f1", "a7", 4, date(2024, 8, 1), {osh: NC, wt: OK})
    envelopes += assessment(upstream, "f9", "a9", 1, date(2023, 5, 5), {osh: NC}, "BD")
    advisory = Advisory()
    envelopes += [
        advisory.session("s1", "f1", "SST", date(2022, 3, 7), women=6, men=4, completions=8),
        advisory.session("s2", "f2", "OSH", date(2023, 6, 5), women=10, men=5, completions=15),
        # ends on 1 January 2024: counts in 2024
        advisory.session("s3", "f3", "SST", date(2023, 12, 29), women=4, men=4, completions=6),
        advisory.session("s9", "f9", "PICC", date(2023, 2, 1), women=15, men=5, completions=20),
        advisory.visit("v1", "f1", date(2022, 5, 6), 1.0),
        advisory.visit("v2", "f2", date(2023, 1, 20), 0.5),
        advisory.visit("v3", "f2", date(2023, 8, 14), 1.5),
        advisory.visit("v4", "f3", date(2024, 4, 14), 2.5),
        advisory.visit("v9", "f9", date(2023, 3, 1), 3.0),
    ]
    return envelopes


def on(service: Service, day: date) -> None:
    service.clock.now = datetime.combine(day, time(10), tzinfo=UTC)


async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def declare(
    service: Service, buyer_id: str, factory_id: str, assessment_id: str, start: date, end: date
) -> str:
    on(service, start)
    declared = await service.client.post(
        "/v1/audit-reliance",
        json={
            "factory_id": factory_id,
            "assessment_id": assessment_id,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
        },
        headers=service.buyer(buyer_id),
    )
    reliance_id: str = (await ok(declared, 201))["reliance_id"]
    return reliance_id


async def given_the_programme(service: Service, upstream: Upstream) -> None:
    """The upstream history through NATS, then grants and reliances at their dates; today is
    the last day of 2024."""
    await service.publish(upstream_history(upstream))

    async def consumed() -> bool:
        async with service.assembled.engine.connect() as connection:
            counts = await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM buyer_sharing.assessment_cluster),"
                    " (SELECT count(*) FROM buyer_sharing.factory_workforce),"
                    " (SELECT count(*) FROM buyer_sharing.advisory_visit)"
                )
            )
            return tuple(counts.one()) == (15, 6, 5) and await service.caught_up()

    await poll(consumed, timeout=30)
    for buyer_id in ("brand-a", "brand-b", "brand-c", "brand-d"):
        await service.register_buyer(buyer_id)
    on(service, date(2022, 1, 5))
    await ok(await service.grant("f1", "brand-a"), 201)
    await ok(await service.grant("f9", "brand-d"), 201)  # Bangladesh
    on(service, date(2022, 5, 1))
    await ok(await service.grant("f2", "brand-b"), 201)
    await declare(service, "brand-a", "f1", "a1", date(2022, 4, 1), date(2023, 3, 31))
    await declare(service, "brand-d", "f9", "a9", date(2023, 6, 1), date(2023, 12, 31))
    on(service, date(2023, 1, 1))
    revoked = await service.client.post(
        "/v1/sharing-grants/f2/brand-b/revoke",
        json={"reason": "left the programme"},
        headers=service.factory("f2"),
    )
    await ok(revoked)
    on(service, date(2023, 6, 1))
    await ok(await service.grant("f3", "brand-c", ends_on="2023-12-31"), 201)
    await declare(service, "brand-c", "f3", "a5", date(2023, 12, 1), date(2023, 12, 31))
    on(service, date(2024, 12, 31))

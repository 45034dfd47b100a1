"""Upstream public events become the buyer's portfolio and reports: through real NATS, under
redelivery and reordering, and rebuilt from the history to the same rows."""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from libs.domain.envelope import Envelope
from libs.servicekit.service import RebuildContext
from services.buyer_sharing import rebuild
from services.buyer_sharing.domain import portfolio
from services.buyer_sharing.tables import READ_MODELS
from services.buyer_sharing.tests.integration.advisory_events import Advisory, programme
from services.buyer_sharing.tests.integration.conftest import Service, Upstream, poll

OK, NC, NA = "compliant", "non_compliant", "not_applicable"


def two_cycles(upstream: Upstream, factory_id: str, country: str = "KH") -> list[Envelope]:
    """A factory with two completed reports, a response, a dispute, a correction and a plan."""
    first = upstream.assessment(
        factory_id,
        f"{factory_id}-a1",
        1,
        date(2024, 3, 1),
        [
            ("Q1", True, False, NC),
            ("Q2", False, False, NC),
            ("Q3", True, True, OK),
            ("Q4", False, False, OK),
        ],
        country,
    )
    second = upstream.assessment(
        factory_id,
        f"{factory_id}-a2",
        2,
        date(2025, 3, 1),
        [
            ("Q1", True, False, NC),
            ("Q2", False, False, OK),
            ("Q3", True, True, NC),
            ("Q4", False, False, NA),
        ],
        country,
    )
    a2 = f"{factory_id}-a2"
    after = [
        upstream.finding_event(
            "FactoryResponded", factory_id, a2, {"question_id": "Q1", "text": "exits unlocked now"}
        ),
        upstream.finding_event(
            "FindingDisputed",
            factory_id,
            a2,
            {"question_id": "Q3", "text": "not us", "reason": "subcontractor"},
        ),
        upstream.finding_event(
            "FindingCorrected",
            factory_id,
            a2,
            {
                "question_id": "Q1",
                "result_before": NC,
                "result_after": NC,
                "evidence": "two exits locked",
                "reason": "typo in evidence",
                "corrected_by": "advisor-2",
            },
        ),
        upstream.plan_updated(factory_id, a2, "Q1", "in_progress", overdue=True),
        upstream.plan_updated(factory_id, a2, "Q3", "verified", zero_tolerance=True),
    ]
    return [upstream.factory(factory_id, country), *first, *second, *after]


async def test_events_on_nats_become_the_buyers_portfolio_and_reports(
    service: Service, upstream: Upstream
) -> None:
    await service.register_buyer("brand-a")
    await service.grant("f1", "brand-a")
    await service.publish(two_cycles(upstream, "f1"))
    headers = service.buyer("brand-a")

    async def portfolio() -> dict[str, Any] | None:
        response = await service.client.get("/v1/buyers/brand-a/factories", headers=headers)
        items = response.json()["items"]
        ready = items and items[0]["improvement_plan"] and items[0]["improvement_plan"]["verified"]
        # the plan events come on their own stream: the reports may still be on their way
        return items[0] if ready and items[0]["name"] and await service.caught_up() else None

    entry = await poll(portfolio)
    latest = entry["latest_report"]
    assert (latest["assessment_id"], latest["report_date"]) == ("f1-a2", "2025-03-01")
    assert latest["non_compliance_rate"] == round(2 / 3, 6)
    assert (latest["critical_issues_found"], latest["zero_tolerance_issues_found"]) == (2, 1)
    assert entry["change_since_previous"]["non_compliance_rate_change"] == round(2 / 3 - 2 / 4, 6)
    # Q3's item is verified: only Q1 is still open
    assert (entry["open_critical_issues"], entry["open_zero_tolerance_issues"]) == (1, 0)
    assert entry["improvement_plan"]["overdue"] == 0  # progress of the last plan event

    reports = (
        await service.client.get("/v1/buyers/brand-a/factories/f1/reports", headers=headers)
    ).json()
    assert [r["assessment_id"] for r in reports] == ["f1-a2", "f1-a1"]
    findings = {f["question_id"]: f for f in reports[0]["findings"]}
    assert set(findings) == {"Q1", "Q3"}
    assert findings["Q1"]["responses"][0]["text"] == "exits unlocked now"
    assert findings["Q1"]["corrections"][0]["actor"] == "advisor-2"
    assert findings["Q1"]["remediation_status"] == "in_progress"
    assert findings["Q3"]["disputes"][0]["reason"] == "subcontractor"
    assert findings["Q3"]["remediation_status"] == "verified"


async def test_filters_risk_order_pages_and_csv(service: Service, upstream: Upstream) -> None:
    await service.register_buyer("brand-a")
    events: list[Envelope] = []
    # f-zt: an open zero-tolerance issue; f-crit: an open critical one; f-clean: nothing open
    events.append(upstream.factory("f-zt", "BD"))
    events += upstream.assessment(
        "f-zt", "zt1", 1, date(2025, 1, 5), [("Q1", True, True, NC), ("Q2", False, False, OK)], "BD"
    )
    events.append(upstream.factory("f-crit"))
    events += upstream.assessment(
        "f-crit", "cr1", 1, date(2025, 1, 5), [("Q1", True, False, NC), ("Q2", False, False, NC)]
    )
    events.append(upstream.factory("f-clean"))
    events += upstream.assessment(
        "f-clean", "cl1", 1, date(2025, 1, 5), [("Q1", True, False, OK), ("Q2", False, False, NC)]
    )
    await service.feed(events)
    for factory_id in ("f-clean", "f-crit", "f-zt"):
        await service.grant(factory_id, "brand-a")
    headers = service.buyer("brand-a")
    base = "/v1/buyers/brand-a/factories"

    seen, cursor = [], None
    while True:
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = (await service.client.get(base + query, headers=headers)).json()
        seen += [item["factory_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["f-zt", "f-crit", "f-clean"]

    critical = (
        await service.client.get(base + "?has_open_critical_issues=true", headers=headers)
    ).json()
    assert [i["factory_id"] for i in critical["items"]] == ["f-zt", "f-crit"]
    in_bangladesh = (await service.client.get(base + "?country=BD", headers=headers)).json()
    assert [i["factory_id"] for i in in_bangladesh["items"]] == ["f-zt"]

    exported = await service.client.get(base + ".csv", headers=headers)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["factory_id"] for row in rows] == seen
    assert rows[0]["open_zero_tolerance_issues"] == "1"
    stranger = await service.client.get(base + ".csv", headers=service.buyer("brand-b"))
    assert stranger.status_code == 404


async def snapshot(service: Service, rename: tuple[str, str] | None = None) -> dict[str, list[Any]]:
    """Every read-model row, sorted; with `rename`, one factory's id replaced by another's."""
    tables: dict[str, list[Any]] = {}
    async with service.assembled.engine.connect() as connection:
        for table in READ_MODELS:
            rows = []
            for row in await connection.execute(select(table)):
                values = row._asdict()
                values.pop("event_id", None)  # envelope ids differ between the two factories
                if rename is not None:
                    values = {
                        k: v.replace(rename[0], rename[1]) if isinstance(v, str) else v
                        for k, v in values.items()
                    }
                rows.append(repr(sorted(values.items())))
            tables[table.name] = sorted(rows)
    return tables


async def test_redelivered_and_reordered_events_give_the_same_read_models(
    service: Service,
) -> None:
    in_order = two_cycles(Upstream(), "zq1")
    await service.feed(in_order)
    expected = await snapshot(service, ("zq1", "zq2"))

    shuffled = two_cycles(Upstream(), "zq2")
    random.Random(7).shuffle(shuffled)
    redelivered = shuffled + list(reversed(shuffled))
    # a second service instance's view: only fb's rows
    await service.feed(redelivered)
    both = await snapshot(service)
    only_fb = {name: [row for row in rows if "zq2" in row] for name, rows in both.items()}
    assert only_fb == {
        name: [row for row in rows if "zq2" in row] for name, rows in expected.items()
    }
    assert any(only_fb.values())


@pytest.mark.parametrize("batch", [2_000, 3])  # one batch per stream, and many handed over
async def test_rebuild_gives_the_live_read_models_row_by_row(
    service: Service, upstream: Upstream, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rebuild, "FETCH_BATCH", batch)
    await service.register_buyer("brand-a")
    await service.register_buyer("brand-b")
    await service.grant("f1", "brand-a", ends_on="2026-01-31")
    await service.grant("f1", "brand-b")
    await service.client.post(
        "/v1/sharing-grants/f1/brand-b/revoke",
        json={"reason": "ended"},
        headers=service.factory("f1"),
    )
    await service.client.post(
        "/v1/access-requests", json={"factory_id": "f2"}, headers=service.buyer("brand-a")
    )
    envelopes = two_cycles(upstream, "f1") + two_cycles(upstream, "f2")
    envelopes += programme(Advisory(), "f1", "f2")  # training and advisory work (issue 18)
    await service.publish(envelopes)

    async def consumed() -> bool:
        live = await snapshot(service)
        return (
            len(live["finding_note"]) == 6
            and len(live["plan_item"]) == 4
            and len(live["training_summary"]) == 4
            and len(live["advisory_summary"]) == 2
        )

    await poll(consumed)
    declared = await service.client.post(
        "/v1/audit-reliance",
        json={
            "factory_id": "f1",
            "assessment_id": "f1-a2",
            "period_start": "2025-01-01",
            "period_end": "2025-12-31",
        },
        headers=service.buyer("brand-a"),
    )
    assert declared.status_code == 201, declared.text
    live = await snapshot(service)
    phases: list[str] = []
    assembled = service.assembled
    report = await rebuild.rebuild(
        RebuildContext(
            service.settings,
            assembled.engine,
            assembled.registry,
            lambda phase, _done, _total: phases.append(phase),
        )
    )
    rebuilt = await snapshot(service)
    assert rebuilt == live
    for producer in ("assessment", "advisory"):
        assert report.upstream_events[producer] == sum(
            1 for e in envelopes if e.service == producer
        )
    assert set(phases) == {"own events", "assessment", "remediation", "advisory"}


async def test_pages_follow_the_pure_risk_order_and_filters_cursor_after_cursor(
    service: Service, upstream: Upstream
) -> None:
    """The page statement (summaries joined with the grants, ordered, keyset-paged in SQL) gives
    what the pure rules give on the whole portfolio, page after page."""
    await service.register_buyer("brand-a")
    rng = random.Random(11)
    events: list[Envelope] = []
    factory_ids = [f"pr{n:02d}" for n in range(14)]
    for n, factory_id in enumerate(factory_ids):
        country = "KH" if n % 2 else "BD"
        results = [(f"Q{q}", q < 3, q == 0, NC if rng.random() < 0.45 else OK) for q in range(6)]
        events.append(upstream.factory(factory_id, country))
        events += upstream.assessment(
            factory_id, f"{factory_id}-a1", 1, date(2025, 1, 5), results, country
        )
        for question_id, critical, zero_tolerance, result in results:
            if result == NC and rng.random() < 0.6:
                events.append(
                    upstream.plan_updated(
                        factory_id,
                        f"{factory_id}-a1",
                        question_id,
                        rng.choice(["verified", "in_progress"]),
                        critical=critical,
                        zero_tolerance=zero_tolerance,
                        overdue=rng.random() < 0.4,
                    )
                )
    await service.feed(events)
    for factory_id in [*factory_ids[:12], "pr-unknown"]:  # one with nothing known of it
        assert (await service.grant(factory_id, "brand-a")).status_code == 201
    headers = service.buyer("brand-a")
    base = "/v1/buyers/brand-a/factories"
    whole = (await service.client.get(base + "?limit=100", headers=headers)).json()["items"]
    assert len(whole) == 13
    entries = [
        portfolio.Entry(
            factory_id=item["factory_id"],
            country=item["country"] or "",
            open_zero_tolerance=item["open_zero_tolerance_issues"],
            open_critical=item["open_critical_issues"],
            overdue=(item["improvement_plan"] or {}).get("overdue") or 0,
            rate=(item["latest_report"] or {}).get("non_compliance_rate") or 0.0,
            row=item,
        )
        for item in whole
    ]
    variants: list[tuple[str, dict[str, Any]]] = [
        ("", {}),
        ("&sort=factory_id", {"order": "factory_id"}),
        ("&country=KH", {"country": "KH"}),
        ("&has_open_critical_issues=true", {"open_critical": True}),
        (
            "&has_open_critical_issues=false&sort=factory_id",
            {"open_critical": False, "order": "factory_id"},
        ),
        ("&overdue=true", {"overdue": True}),
    ]
    for query, rules in variants:
        expected = [entry.factory_id for entry in portfolio.select(entries, **rules)[0]]
        seen: list[str] = []
        cursor = None
        while True:
            path = f"{base}?limit=2{query}" + (f"&cursor={cursor}" if cursor else "")
            page = (await service.client.get(path, headers=headers)).json()
            seen += [item["factory_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, query
    assert any(entry.open_zero_tolerance for entry in entries)
    assert any(entry.overdue for entry in entries)

"""Issue 18: a buyer with a grant sees a factory's training and advisory summary in its portfolio
entry (totals and latest), its CSV (totals) and the factory's detail (by course and year): the
advisory service's public events, published on its stream as its relay would, through real NATS
and PostgreSQL. Another buyer, and the buyer after a revocation, see nothing of it; redelivered and
reordered events count once."""

from __future__ import annotations

import csv
import io
import random
import uuid
from datetime import date
from typing import Any

from sqlalchemy import select

from libs.domain.envelope import Envelope
from libs.events.consumer import DUPLICATES
from libs.events.nats import subject_for
from services.buyer_sharing.consumers import DURABLES
from services.buyer_sharing.tables import advisory_summary, training_summary
from services.buyer_sharing.tests.integration.advisory_events import Advisory, programme
from services.buyer_sharing.tests.integration.conftest import Service, Upstream, poll

PORTFOLIO = "/v1/buyers/brand-a/factories"

F1_TOTALS = {
    "training": {
        "sessions": 3,
        "participants": 31,
        "completions": 28,
        "training_days": 10,
        "latest": {
            "course_code": "SST",
            "course_title": "Supervisory Skills Training",
            "started_on": "2025-02-03",
        },
    },
    "advisory": {"visits": 3, "advisory_days": 4.0, "latest_visit_on": "2025-04-14"},
}
F1_BY_YEAR = {
    "training_by_course_and_year": [
        {
            "year": 2025,
            "course_code": "SST",
            "course_title": "Supervisory Skills Training",
            "sessions": 1,
            "participants": 8,
            "completions": 6,
            "training_days": 4,
        },
        {
            "year": 2024,
            "course_code": "OSH",
            "course_title": "Occupational Safety and Health",
            "sessions": 1,
            "participants": 15,
            "completions": 15,
            "training_days": 2,
        },
        {
            "year": 2024,
            "course_code": "SST",
            "course_title": "Supervisory Skills Training",
            "sessions": 1,
            "participants": 8,
            "completions": 7,
            "training_days": 4,
        },
    ],
    "advisory_by_year": [
        {"year": 2025, "visits": 2, "advisory_days": 3.0},
        {"year": 2024, "visits": 1, "advisory_days": 1.0},
    ],
}
NOTHING = {
    "training": {
        "sessions": 0,
        "participants": 0,
        "completions": 0,
        "training_days": 0,
        "latest": None,
    },
    "advisory": {"visits": 0, "advisory_days": 0.0, "latest_visit_on": None},
}


async def publish_again(service: Service, envelope: Envelope) -> None:
    """The same event once more under another message id (past JetStream's de-duplication, as
    a producer's relay that lost its acknowledgement may publish it): only the inbox stops it."""
    prefix = service.settings.subject_prefix
    await service.assembled.runtime.nats.jetstream().publish(
        subject_for(prefix, envelope.service, envelope.event_name, envelope.schema_version),
        envelope.to_json(),
        headers={"Nats-Msg-Id": str(uuid.uuid4())},
        timeout=5,
    )


async def summaries(service: Service) -> dict[str, list[Any]]:
    async with service.assembled.engine.connect() as connection:
        return {
            table.name: sorted(
                repr(sorted(row._asdict().items()))
                for row in await connection.execute(select(table))
            )
            for table in (training_summary, advisory_summary)
        }


async def applied(service: Service, factory_id: str, groups: int) -> None:
    """Wait until every consumer caught up and the factory's summary has `groups` rows."""

    async def done() -> bool:
        rows = await summaries(service)
        found = sum(1 for row in rows["training_summary"] if f"'{factory_id}'" in row)
        return found == groups and await service.caught_up()

    await poll(done, timeout=30)


async def given_f1_shared_with_brand_a_and_its_programme_published(
    service: Service, upstream: Upstream
) -> list[Envelope]:
    await service.register_buyer("brand-a")
    await service.register_buyer("brand-b")
    await service.publish([upstream.factory("f1"), upstream.factory("f2")])
    assert (await service.grant("f1", "brand-a")).status_code == 201
    envelopes = programme(Advisory(), "f1", "f2")
    await service.publish(envelopes)
    await applied(service, "f1", 3)
    return envelopes


async def what_a_buyer_reads(service: Service, buyer_id: str) -> dict[str, Any]:
    headers = service.buyer(buyer_id)
    base = f"/v1/buyers/{buyer_id}/factories"
    listed = await service.client.get(base, headers=headers)
    one = await service.client.get(f"{base}/f1", headers=headers)
    reports = await service.client.get(f"{base}/f1/reports", headers=headers)
    exported = await service.client.get(f"{base}.csv", headers=headers)
    return {
        "portfolio": {
            item["factory_id"]: item["training_and_advisory"] for item in listed.json()["items"]
        },
        "detail": (one.status_code, one.json().get("training_and_advisory")),
        "reports": reports.status_code,
        "csv": {row["factory_id"]: row for row in csv.DictReader(io.StringIO(exported.text))},
    }


class TestASharedBuyer:
    async def test_sees_the_totals_in_its_portfolio_and_csv_and_by_year_in_the_detail(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_f1_shared_with_brand_a_and_its_programme_published(service, upstream)

        seen = await what_a_buyer_reads(service, "brand-a")

        # the open session counts only f1's own participants (f2's 29 are f2's)
        assert seen["portfolio"] == {"f1": F1_TOTALS}
        assert seen["detail"] == (200, {**F1_TOTALS, **F1_BY_YEAR})
        assert seen["reports"] == 200
        row = seen["csv"]["f1"]
        assert {
            name: row[name]
            for name in (
                "training_sessions",
                "training_participants",
                "training_completions",
                "training_days",
                "advisory_visits",
                "advisory_days",
            )
        } == {
            "training_sessions": "3",
            "training_participants": "31",
            "training_completions": "28",
            "training_days": "10",
            "advisory_visits": "3",
            "advisory_days": "4.0",
        }

    async def test_reads_counts_only(self, service: Service, upstream: Upstream) -> None:
        await given_f1_shared_with_brand_a_and_its_programme_published(service, upstream)

        one = await service.client.get(f"{PORTFOLIO}/f1", headers=service.buyer("brand-a"))

        text = one.text
        for private in ("supervisor", "female", "f1-item-1", "meeting-1", "committee_support"):
            assert private not in text, private

    async def test_a_factory_with_no_training_or_advice_shows_zeros(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_f1_shared_with_brand_a_and_its_programme_published(service, upstream)
        assert (await service.grant("f3", "brand-a")).status_code == 201

        seen = await what_a_buyer_reads(service, "brand-a")

        assert seen["portfolio"]["f3"] == NOTHING
        assert seen["csv"]["f3"]["training_sessions"] == "0"


class TestABuyerWithoutAGrant:
    async def test_sees_nothing_of_the_factory(self, service: Service, upstream: Upstream) -> None:
        await given_f1_shared_with_brand_a_and_its_programme_published(service, upstream)

        seen = await what_a_buyer_reads(service, "brand-b")

        assert seen == {"portfolio": {}, "detail": (404, None), "reports": 404, "csv": {}}

    async def test_sees_nothing_of_another_factory_of_an_open_session_it_shares(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_f1_shared_with_brand_a_and_its_programme_published(service, upstream)

        f2 = await service.client.get(f"{PORTFOLIO}/f2", headers=service.buyer("brand-a"))

        assert f2.status_code == 404


class TestARevocation:
    async def test_ends_every_read_and_a_new_grant_shows_the_summary_kept_meanwhile(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_f1_shared_with_brand_a_and_its_programme_published(service, upstream)
        revoked = await service.client.post(
            "/v1/sharing-grants/f1/brand-a/revoke",
            json={"reason": "contract ended"},
            headers=service.factory("f1"),
        )
        assert revoked.status_code == 200, revoked.text

        after = await what_a_buyer_reads(service, "brand-a")
        # kept per factory whatever its grants: a visit completed while nothing is shared
        later = Advisory().visit("f1-v4", "f1", date(2025, 5, 26), 1.5)
        await service.publish([later])
        await poll(service.caught_up)
        while_revoked = await what_a_buyer_reads(service, "brand-a")
        assert (await service.grant("f1", "brand-a")).status_code == 201
        again = await what_a_buyer_reads(service, "brand-a")

        assert after == {"portfolio": {}, "detail": (404, None), "reports": 404, "csv": {}}
        assert while_revoked == after
        assert again["portfolio"]["f1"]["advisory"] == {
            "visits": 4,
            "advisory_days": 5.5,
            "latest_visit_on": "2025-05-26",
        }


class TestRedeliveredAndReorderedEvents:
    async def test_count_once_through_nats(self, service: Service, upstream: Upstream) -> None:
        envelopes = await given_f1_shared_with_brand_a_and_its_programme_published(
            service, upstream
        )
        before = await summaries(service)
        runner = service.assembled.runtime.consumer(DURABLES["advisory"])
        skipped = DUPLICATES.labels(runner.durable)
        skipped_before = skipped._value.get()

        for envelope in envelopes:
            await publish_again(service, envelope)
        await poll(service.caught_up)

        assert skipped._value.get() - skipped_before == len(envelopes)  # the inbox knew each
        assert await summaries(service) == before
        seen = await what_a_buyer_reads(service, "brand-a")
        assert seen["portfolio"] == {"f1": F1_TOTALS}

    async def test_leave_the_rows_the_events_in_order_leave(self, service: Service) -> None:
        await service.feed(programme(Advisory(), "ro1", "ro-other1"))
        expected = {
            name: sorted(row.replace("ro1", "ro2") for row in rows if "ro1" in row)
            for name, rows in (await summaries(service)).items()
        }

        shuffled = programme(Advisory(), "ro2", "ro-other2")
        random.Random(18).shuffle(shuffled)
        # redelivered in the other order, past the inbox (as a rebuild beside the live consumer)
        await service.feed(shuffled + list(reversed(shuffled)))

        found = {
            name: sorted(row for row in rows if "ro2" in row)
            for name, rows in (await summaries(service)).items()
        }
        assert found == expected
        assert all(found.values())

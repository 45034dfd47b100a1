"""The advisory service's events as buyer sharing reads them (no I/O): our narrow copies decode
what the producer publishes, whatever it adds; a batch's rows keep the newest version of each
session and visit in any order; a factory with nothing known shows zeros."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

from libs.domain.envelope import Envelope
from services.buyer_sharing import upstream
from services.buyer_sharing.projections.training_advisory import TrainingAdvisoryRows
from services.buyer_sharing.queries.training_advisory import TOTALS_COLUMNS, totals
from services.buyer_sharing.service import events
from services.buyer_sharing.tests.integration.advisory_events import Advisory, programme

DAY = date(2025, 1, 2)


def decoded(envelope: Envelope) -> Any:
    return events().decode(envelope)


class TestOurCopies:
    def test_decode_the_producers_whole_events(self) -> None:
        session, *_, visit = programme(Advisory(), "f1", "f2")

        assert decoded(session) == upstream.TrainingSessionDelivered(
            session_id="s-open",
            factory_id="f1",
            course_code="SST",
            course_title="Supervisory Skills Training",
            start_date=date(2024, 3, 4),
            end_date=date(2024, 3, 7),
            training_days=4,
            participants=8,
            completions=7,
        )
        assert decoded(visit).duration_days == 2.5

    def test_ignore_fields_a_newer_producer_adds(self) -> None:
        visit = Advisory().visit("v1", "f1", DAY, 1.0)
        newer = visit.model_copy(update={"data": {**visit.data, "advisor_rating": 5}})

        assert decoded(newer) == decoded(visit)


class TestABatchsRows:
    def test_keep_the_newest_version_of_each_session_and_visit_in_any_order(self) -> None:
        advisory = Advisory()
        first = advisory.session("s1", "f1", "SST", DAY, women=3, men=1, completions=2)
        corrected = advisory.session("s1", "f1", "SST", DAY, women=5, men=1, completions=6)
        visits = [advisory.visit("v1", "f1", DAY, duration) for duration in (1.0, 0.5)]
        batch = [first, corrected, *visits]

        orders = []
        for seed in range(5):
            shuffled = list(batch)
            random.Random(seed).shuffle(shuffled)
            rows = TrainingAdvisoryRows()
            for envelope in shuffled:
                assert rows.add(envelope.streamversion, decoded(envelope))
            orders.append((rows.sessions, rows.visits, rows.factories))

        sessions, visits_rows, factories = orders[0]
        assert all(order == orders[0] for order in orders)
        assert sessions[("s1", "f1")][7:] == (6, 6, 2)  # participants, completions, version
        assert visits_rows["v1"][3:] == (Decimal("0.5"), 2)
        assert factories == {"f1"}

    def test_take_no_other_producers_events(self) -> None:
        event = upstream.ImprovementPlanPublished(factory_id="f1", plan_version=1)

        assert TrainingAdvisoryRows().add(1, event) is False


class TestTotals:
    def test_are_zeros_with_no_latest_activity_when_nothing_is_known(self) -> None:
        shaped = totals(dict.fromkeys(TOTALS_COLUMNS))

        assert shaped == {
            "training": {
                "sessions": 0,
                "participants": 0,
                "completions": 0,
                "training_days": 0,
                "latest": None,
            },
            "advisory": {"visits": 0, "advisory_days": 0.0, "latest_visit_on": None},
        }

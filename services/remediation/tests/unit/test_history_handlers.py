"""Given / when / then of the import's handlers on the in-memory store: an item's history appended
at its business times and attributed to its record, a refused entry appending nothing of any,
a committee of the past, and the scheduler's deadlines of an imported item as history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from libs.domain.envelope import Envelope, ImportOrigin
from libs.domain.history.bundle import at_noon
from libs.events.memory import InMemoryEventStore
from services.remediation import consumers, handlers, imports
from services.remediation.commands import FlagDeadlines, ImportCommittee, ImportItemHistories
from services.remediation.domain.committee import CommitteeMember, Side
from services.remediation.domain.history import ItemHistory, MeetingHistory, StatusEntry
from services.remediation.domain.plan_events import ItemStatus
from services.remediation.errors import HistoryRefused
from services.remediation.handlers import Remediation
from services.remediation.ids import item_id_for, plan_stream_id
from services.remediation.tests.unit.conftest import Clock
from services.remediation.tests.unit.handler_givens import FACTORY, completed, delivered, found

BUNDLE = "kh-history"
OLD = date(2019, 3, 1)


def origin(source_id: str) -> ImportOrigin:
    return ImportOrigin(BUNDLE, None, "plan-items", source_id, "importer")


async def given_imported_items(deps: Remediation) -> list[str]:
    """The consumer's reaction to an imported 2019 assessment with q1 (critical) and q2."""
    for number, event in enumerate(
        [
            completed().model_copy(update={"report_date": OLD}),
            found("q1").model_copy(update={"report_date": OLD}),
            found("q2", critical=False).model_copy(update={"report_date": OLD}),
        ],
        start=1,
    ):
        envelope, _ = delivered(event, number)
        imported = envelope.model_copy(update={"importedfrom": BUNDLE, "time": at_noon(OLD)})
        handler = consumers.EVENT_HANDLERS[envelope.event_name][1]
        await handler(deps, None, imported, event)
    return [item_id_for("a1", "q1"), item_id_for("a1", "q2")]


def history(item_id: str, *changes: StatusEntry) -> ItemHistory:
    return ItemHistory(
        item_id=item_id,
        opened_on=OLD,
        binding_due_date=OLD + timedelta(days=30),
        root_cause="cause",
        planned_action="action",
        responsible_person="HR",
        changes=changes,
    )


def appended(store: InMemoryEventStore) -> list[Envelope]:
    return [e for e in store.published if e.event_name == "ImprovementPlanUpdated"]


class TestImportingItemHistories:
    async def test_each_fact_at_its_day_attributed_to_its_record(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        first, _ = await given_imported_items(deps)
        before = len(store.published)
        change = await imports.import_item_histories(
            ImportItemHistories(
                FACTORY,
                (
                    history(
                        first, StatusEntry(ItemStatus.IN_PROGRESS, date(2019, 3, 10), "factory")
                    ),
                ),
                (origin("PI-1"),),
            ),
            deps,
        )
        # details, in progress, and overdue at the end (still unverified; due 2019-03-31)
        assert [type(e).__name__ for e in change.events] == [
            "ImprovementItemDetailsChanged",
            "ImprovementItemStatusChanged",
            "ImprovementItemOverdue",
        ]
        # a draft's details publish nothing (the publication gate)
        published = store.published[before:]
        assert [(e.time, e.importedfrom) for e in published] == [
            (at_noon(date(2019, 3, 10)), BUNDLE),
            (at_noon(date(2019, 4, 1)), BUNDLE),  # the overdue item's ImprovementItemOverdue
            (at_noon(date(2019, 4, 1)), BUNDLE),  # and its ImprovementPlanUpdated
        ]

    async def test_a_refused_entry_appends_nothing_of_any(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        first, second = await given_imported_items(deps)
        before = list(store.events(plan_stream_id(FACTORY)))
        with pytest.raises(HistoryRefused) as refused:
            await imports.import_item_histories(
                ImportItemHistories(
                    FACTORY,
                    (
                        history(first, StatusEntry(ItemStatus.IN_PROGRESS, OLD, "factory")),
                        history(second, StatusEntry(ItemStatus.VERIFIED, OLD, "assessor")),
                    ),
                    (origin("PI-1"), origin("PI-2")),
                ),
                deps,
            )
        [(index, field, reason)] = refused.value.refusals
        assert (index, field) == (1, "status_history.0")
        assert "cannot move an item from open to verified" in reason
        assert store.events(plan_stream_id(FACTORY)) == before


class TestImportingACommittee:
    async def test_members_and_meetings_of_the_past(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        change = await imports.import_committee(
            ImportCommittee(
                FACTORY,
                (
                    CommitteeMember(member_id="m1", name="A", side=Side.MANAGEMENT),
                    CommitteeMember(member_id="w1", name="B", side=Side.WORKER),
                ),
                date(2018, 5, 1),
                (MeetingHistory("mt1", date(2019, 3, 20), ("endorsed",), True),),
                ImportOrigin(BUNDLE, None, "committees", "C-1", "importer"),
            ),
            deps,
        )
        assert change.state.latest_endorsement is not None
        assert [(e.time, e.importedfrom) for e in store.published] == [
            (at_noon(date(2018, 5, 1)), BUNDLE),
            (at_noon(date(2019, 3, 20)), BUNDLE),
        ]


class TestDeadlinesOfAnImportedPlan:
    async def test_flagged_as_history_once_settled(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        await given_imported_items(deps)
        assert (await handlers.flag_deadlines(FlagDeadlines(FACTORY), deps)).events == ()
        clock.now += timedelta(hours=1)
        before = len(store.published)
        change = await handlers.flag_deadlines(FlagDeadlines(FACTORY), deps)
        assert [type(e).__name__ for e in change.events] == [
            "ImprovementItemOverdue",
            "ImprovementItemOverdue",
            "ImprovementPlanPublicationOverdue",
        ]
        flags = [e for e in store.published[before:] if e.event_name != "ImprovementPlanUpdated"]
        assert [(e.time.date(), e.importedfrom) for e in flags] == [
            (date(2019, 4, 1), BUNDLE),  # q1, critical: due 2019-03-31
            (date(2019, 5, 31), BUNDLE),  # q2: due 2019-05-30
            (date(2019, 4, 1), BUNDLE),  # the first publication: due 2019-03-31
        ]
        assert (await handlers.flag_deadlines(FlagDeadlines(FACTORY), deps)).events == ()

    async def test_a_live_plan_s_deadlines_are_news(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        await consumers.on_assessment_completed(deps, None, None, completed())
        await consumers.on_non_compliance_found(deps, None, None, found())
        clock.now = datetime(2024, 5, 1, tzinfo=UTC)
        change = await handlers.flag_deadlines(FlagDeadlines(FACTORY), deps)
        assert len(change.events) == 2
        assert {e.importedfrom for e in store.published if "Overdue" in e.event_name} == {None}

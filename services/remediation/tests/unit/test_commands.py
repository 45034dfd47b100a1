"""Command handlers on the in-memory event store (no I/O): given the events in the store, when a
handler runs, then these events are in the stream, these public events would reach the outbox and
the command answers with the row it left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.events.memory import InMemoryEventStore
from services.remediation import handlers
from services.remediation.commands import (
    ChangeItemDetails,
    FlagDeadlines,
    LogCommitteeMeeting,
    PublishPlan,
)
from services.remediation.domain.committee import CommitteeMeetingHeld, CommitteeMembersChanged
from services.remediation.domain.plan_events import (
    ImprovementItemDetailsChanged,
    ImprovementItemOverdue,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanPublished,
    ItemStatus,
    RemediationVerified,
)
from services.remediation.errors import (
    EndorsementRequired,
    MeetingInFuture,
    NoSuchPlan,
    TransitionNotAllowed,
)
from services.remediation.handlers import Remediation
from services.remediation.ids import committee_stream_id
from services.remediation.tests.unit.conftest import Clock
from services.remediation.tests.unit.handler_givens import (
    FACTORY,
    REPORT,
    filled_in,
    given_item,
    members,
    move,
    plan_events,
    public,
)


class TestItemCommands:
    async def test_details_of_a_plan_that_does_not_exist_are_not_found(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        with pytest.raises(NoSuchPlan):
            await filled_in(deps, "nope")
        assert plan_events(store) == []

    async def test_a_stale_expected_version_changes_nothing(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        item_id = await given_item(deps)
        command = ChangeItemDetails(
            factory_id=FACTORY,
            item_id=item_id,
            root_cause="x",
            planned_action=None,
            responsible_person=None,
            due_date=None,
            changed_by="f",
            expected_version=1,
        )
        with pytest.raises(VersionMismatch):
            await handlers.change_item_details(command, deps)
        assert len(plan_events(store)) == 2

    async def test_a_draft_s_details_are_changed_and_publish_nothing(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        item_id = await given_item(deps)
        change = await handlers.change_item_details(
            ChangeItemDetails(
                factory_id=FACTORY,
                item_id=item_id,
                root_cause="no warden",
                planned_action="appoint one",
                responsible_person="HR manager",
                due_date=REPORT + timedelta(days=10),
                changed_by="factory-user",
                expected_version=2,
            ),
            deps,
        )
        assert change.version == 3
        assert isinstance(plan_events(store)[-1], ImprovementItemDetailsChanged)
        assert change.state.items[item_id].responsible_person == "HR manager"
        # the answer is the item's row as the command left it (the API's item)
        assert change.answer["responsible_person"] == "HR manager"
        assert change.answer["status"] == "open" and change.answer["item_id"] == item_id
        # the plan is not published: its draft stays here (issue 22, finding 2)
        assert [s["change"] for s in public(store, "ImprovementPlanUpdated")] == ["item_added"]

    async def test_verification_publishes_remediation_verified_and_the_progress(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        item_id = await given_item(deps)
        await filled_in(deps, item_id)
        await move(deps, item_id, ItemStatus.IN_PROGRESS, "factory")
        await move(deps, item_id, ItemStatus.DONE, "factory")
        await move(deps, item_id, ItemStatus.VERIFIED, "assessor")
        assert isinstance(plan_events(store)[-1], RemediationVerified)
        [verified] = public(store, "RemediationVerified")
        assert verified == {
            "factory_id": FACTORY,
            "item_id": item_id,
            "assessment_id": "a1",
            "question_id": "q1",
            "verified_at": clock.now.isoformat().replace("+00:00", "Z"),
        }
        changes = [summary["change"] for summary in public(store, "ImprovementPlanUpdated")]
        assert changes == [
            "item_added",
            "status_changed",
            "status_changed",
            "verified",
        ]
        assert public(store, "ImprovementPlanUpdated")[-1]["progress"]["share_verified"] == 1.0

    async def test_a_refused_transition_appends_nothing(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        item_id = await given_item(deps)
        with pytest.raises(TransitionNotAllowed):
            await move(deps, item_id, ItemStatus.DONE, "factory")
        assert len(plan_events(store)) == 2


class TestCommitteeCommands:
    async def test_members_get_ids_and_leave_the_service_without_their_names(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        ids = await members(deps)
        assert ids[1] == "w1" and ids[0]  # a new member gets an id
        [changed] = store.events(committee_stream_id(FACTORY))
        assert isinstance(changed, CommitteeMembersChanged)
        [updated] = public(store, "CommitteeUpdated")
        assert updated["management_members"] == 1 and updated["worker_members"] == 1
        assert updated["balanced"] is True and updated["change"] == "members_changed"
        assert "Ms Manager" not in str(store.published) and "members" not in updated

    async def test_a_meeting_is_logged_on_the_clock_and_a_future_one_refused(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        ids = await members(deps)
        with pytest.raises(MeetingInFuture):
            await handlers.log_committee_meeting(
                LogCommitteeMeeting(
                    FACTORY, clock.now.date() + timedelta(days=1), ids, [], True, "f"
                ),
                deps,
            )
        change = await handlers.log_committee_meeting(
            LogCommitteeMeeting(FACTORY, clock.now.date(), ids, ["endorse"], True, "f"),
            deps,
        )
        assert change.version == 2
        assert change.answer["version"] == 2 and len(change.answer["meetings"]) == 1
        assert change.answer["meetings"][0]["held_on"] == "2024-03-05"
        assert isinstance(store.events(committee_stream_id(FACTORY))[-1], CommitteeMeetingHeld)
        updated = public(store, "CommitteeUpdated")[-1]
        assert updated["meetings"] == 1 and updated["plan_endorsed_on"] == "2024-03-05"


class TestPublication:
    async def test_publication_needs_an_endorsement_then_is_published(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        await given_item(deps)
        with pytest.raises(EndorsementRequired):
            await handlers.publish_plan(PublishPlan(FACTORY, "f"), deps)
        ids = await members(deps)
        await handlers.log_committee_meeting(
            LogCommitteeMeeting(FACTORY, clock.now.date(), ids, [], True, "f"), deps
        )
        change = await handlers.publish_plan(PublishPlan(FACTORY, "f", expected_version=2), deps)
        [published] = change.events
        assert isinstance(published, ImprovementPlanPublished) and published.plan_version == 3
        assert change.answer["published_version"] == 3
        assert change.answer["first_published_at"] == clock.now
        [event] = public(store, "ImprovementPlanPublished")
        assert {key: event[key] for key in ("factory_id", "plan_version", "published_at")} == {
            "factory_id": FACTORY,
            "plan_version": 3,
            "published_at": clock.now.isoformat().replace("+00:00", "Z"),
        }
        assert event["late"] is False and event["progress"]["published"] is True
        [item] = event["items"]
        assert item["published"] is True and item["root_cause"] is None
        assert item["owner_assigned"] is False

    async def test_an_unknown_plan_is_not_found(self, deps: Remediation) -> None:
        with pytest.raises(NoSuchPlan):
            await handlers.publish_plan(PublishPlan(FACTORY, "f"), deps)


class TestDeadlines:
    async def test_deadlines_past_are_flagged_and_published_once(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        item_id = await given_item(deps)  # critical: due 30 days after the report
        clock.now = datetime(2024, 4, 15, tzinfo=UTC)
        change = await handlers.flag_deadlines(FlagDeadlines(FACTORY), deps)
        assert [type(e) for e in change.events] == [
            ImprovementItemOverdue,
            ImprovementPlanPublicationOverdue,
        ]
        again = await handlers.flag_deadlines(FlagDeadlines(FACTORY), deps)
        assert again.events == ()
        [overdue] = public(store, "ImprovementItemOverdue")
        assert overdue["item_id"] == item_id and overdue["critical"] is True
        [late] = public(store, "ImprovementPlanPublicationOverdue")
        assert late["due_date"] == "2024-03-31"
        summary = public(store, "ImprovementPlanUpdated")[-1]
        assert summary["change"] == "overdue" and summary["item"]["overdue"] is True

"""Command handlers and reactions on the in-memory event store (no I/O): given the events in the
store, when a handler runs, then these events are in the stream and these public events would
reach the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest

from libs.domain.aggregate import VersionMismatch
from libs.domain.envelope import DomainEvent, Envelope
from libs.events.memory import InMemoryEventStore
from services.remediation import handlers
from services.remediation.app import build_registry
from services.remediation.commands import (
    ChangeItemDetails,
    ChangeItemStatus,
    FlagDeadlines,
    LogCommitteeMeeting,
    NewMember,
    PublishPlan,
    SetCommitteeMembers,
)
from services.remediation.contract import contract
from services.remediation.domain.committee import (
    CommitteeMeetingHeld,
    CommitteeMembersChanged,
    Side,
)
from services.remediation.domain.plan_events import (
    AssessmentReportReceived,
    ImprovementItemAdded,
    ImprovementItemDetailsChanged,
    ImprovementItemOverdue,
    ImprovementPlanPublicationOverdue,
    ImprovementPlanPublished,
    ItemStatus,
    RemediationVerified,
)
from services.remediation.domain.policy import DueDatePolicy
from services.remediation.errors import (
    EndorsementRequired,
    MeetingInFuture,
    NoSuchPlan,
    TransitionNotAllowed,
)
from services.remediation.handlers import Remediation
from services.remediation.ids import committee_stream_id, item_id_for, plan_stream_id
from services.remediation.upstream import AssessmentCompleted, NonComplianceFound

POLICY = DueDatePolicy()
FACTORY = "factory-1"
REPORT = date(2024, 3, 1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(build_registry(), public=contract(POLICY))


@pytest.fixture
def deps(store: InMemoryEventStore, clock: Clock) -> Remediation:
    return Remediation.create(store, POLICY, clock, read_models=False)


def completed(assessment_id: str = "a1") -> AssessmentCompleted:
    return AssessmentCompleted(
        assessment_id=assessment_id,
        factory_id=FACTORY,
        cycle=1,
        report_date=REPORT,
        non_compliance_count=1,
    )


def found(question_id: str = "q1", *, critical: bool = True) -> NonComplianceFound:
    return NonComplianceFound(
        assessment_id="a1",
        factory_id=FACTORY,
        cycle=1,
        report_date=REPORT,
        cluster_id="osh",
        cluster_name="Occupational Safety and Health",
        compliance_point_id="osh-emergency",
        compliance_point_name="Emergency preparedness",
        question_id=question_id,
        question_text="Are exits unlocked?",
        critical=critical,
        zero_tolerance=False,
        evidence="exit locked",
    )


def plan_events(store: InMemoryEventStore) -> list[DomainEvent]:
    return store.events(plan_stream_id(FACTORY))


def public(store: InMemoryEventStore, event_name: str) -> list[dict[str, Any]]:
    """The data of the public events of that name that would reach the outbox."""
    return [envelope.data for envelope in store.published if envelope.event_name == event_name]


async def given_item(deps: Remediation) -> str:
    await handlers.on_assessment_completed(completed(), deps, None)
    await handlers.on_non_compliance_found(found(), deps, None)
    return item_id_for("a1", "q1")


async def filled_in(deps: Remediation, item_id: str) -> None:
    await handlers.change_item_details(
        ChangeItemDetails(
            factory_id=FACTORY,
            item_id=item_id,
            root_cause="no warden",
            planned_action="appoint one",
            responsible_person="HR manager",
            due_date=None,
            changed_by="factory-user",
        ),
        deps,
    )


async def move(deps: Remediation, item_id: str, status: ItemStatus, actor: Any) -> None:
    command = ChangeItemStatus(
        factory_id=FACTORY, item_id=item_id, status=status, actor=actor, changed_by="u"
    )
    await handlers.change_item_status(command, deps)


class TestReactions:
    async def test_a_completed_assessment_records_the_report_once_and_publishes_nothing(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        await handlers.on_assessment_completed(completed(), deps, None)
        await handlers.on_assessment_completed(completed(), deps, None)  # redelivered
        assert [type(e) for e in plan_events(store)] == [AssessmentReportReceived]
        assert store.published == []

    async def test_a_non_compliance_adds_an_item_once_and_publishes_the_plan(
        self, deps: Remediation, store: InMemoryEventStore
    ) -> None:
        await handlers.on_non_compliance_found(found(), deps, None)
        await handlers.on_non_compliance_found(found(), deps, None)  # redelivered
        assert [type(e) for e in plan_events(store)] == [
            AssessmentReportReceived,
            ImprovementItemAdded,
        ]
        [summary] = public(store, "ImprovementPlanUpdated")
        assert summary["change"] == "item_added" and summary["plan_version"] == 2
        assert summary["item"]["question_id"] == "q1" and summary["item"]["status"] == "open"
        assert summary["progress"]["total"] == 1 and summary["progress"]["open"] == 1
        assert summary["progress"]["publication_due_date"] == "2024-03-31"

    async def test_the_consumer_handlers_refuse_an_event_decoded_as_another_type(
        self, deps: Remediation
    ) -> None:
        handle = handlers.consumer_handlers(handlers.EVENT_HANDLERS, deps)["NonComplianceFound"]
        envelope = Envelope.model_validate(
            {
                "id": "e1",
                "source": "/betterwork/assessment",
                "type": "org.betterwork.assessment.NonComplianceFound.v1",
                "subject": FACTORY,
                "time": datetime.now(UTC),
                "data": {},
                "correlationid": "c",
                "streamid": "assessment-a1",
                "streamversion": 1,
            }
        )
        with pytest.raises(TypeError):
            await handle(cast(Any, None), envelope, completed())


def delivered(event: DomainEvent, number: int) -> tuple[Envelope, DomainEvent]:
    """An upstream event as the consumer hands it over: its envelope and our decoded copy."""
    envelope = Envelope.model_validate(
        {
            "id": f"event-{number}",
            "source": "/betterwork/assessment",
            "type": f"org.betterwork.assessment.{type(event).__name__}.v1",
            "subject": FACTORY,
            "time": datetime.now(UTC),
            "data": {},
            "correlationid": "completion-1",
            "streamid": "assessment-a1",
            "streamversion": number,
        }
    )
    return envelope, event


class TestBatchOfUpstreamEvents:
    async def test_a_batch_decides_the_same_events_as_one_reaction_per_event(
        self, deps: Remediation, store: InMemoryEventStore, clock: Clock
    ) -> None:
        """Out of order, with a redelivery and a second factory's events in between."""
        other = Remediation.create(
            InMemoryEventStore(build_registry(), public=contract(POLICY)),
            POLICY,
            clock,
            read_models=False,
        )
        elsewhere = found("q9").model_copy(update={"factory_id": "factory-2"})
        upstream: list[DomainEvent] = [
            found("q2", critical=False),
            completed(),
            elsewhere,
            found("q1"),
            found("q2", critical=False),  # redelivered
        ]
        for event in upstream:
            if isinstance(event, AssessmentCompleted):
                await handlers.on_assessment_completed(event, other, None)
            else:
                assert isinstance(event, NonComplianceFound)
                await handlers.on_non_compliance_found(event, other, None)
        batch = [delivered(event, number) for number, event in enumerate(upstream, start=1)]
        await handlers.consumer_batch_handler(deps)(cast(Any, None), batch)

        for factory_id in (FACTORY, "factory-2"):
            stream_id = plan_stream_id(factory_id)
            assert store.events(stream_id) == other.store.events(stream_id)
        assert [type(e) for e in plan_events(store)] == [
            AssessmentReportReceived,
            ImprovementItemAdded,
            ImprovementItemAdded,
        ]
        for factory_id in (FACTORY, "factory-2"):  # per plan in order; plans apart may interleave
            published = [(e.event_name, e.data) for e in store.published if e.subject == factory_id]
            assert published == [
                (e.event_name, e.data) for e in other.store.published if e.subject == factory_id
            ]
        # each plan update is caused by the upstream event that decided it
        assert [e.causationid for e in store.published if e.subject == FACTORY] == [
            "event-1",
            "event-4",
        ]


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

    async def test_details_are_changed_and_published_without_the_responsible_person(
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
        summary = public(store, "ImprovementPlanUpdated")[-1]
        assert summary["change"] == "item_updated" and summary["item"]["root_cause"] == "no warden"
        assert "responsible_person" not in summary["item"]

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
            "item_updated",
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


async def members(deps: Remediation) -> list[str]:
    change = await handlers.set_committee_members(
        SetCommitteeMembers(
            factory_id=FACTORY,
            members=[
                NewMember(None, "Ms Manager", Side.MANAGEMENT),
                NewMember("w1", "Mr Worker", Side.WORKER),
            ],
            changed_by="f",
        ),
        deps,
    )
    return [member.member_id for member in change.state.members]


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
        assert public(store, "ImprovementPlanPublished") == [
            {
                "factory_id": FACTORY,
                "plan_version": 3,
                "published_at": clock.now.isoformat().replace("+00:00", "Z"),
                "late": False,
            }
        ]

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

"""Given / when / then: the committee's members on equal sides, its meetings and endorsements,
and its bounds (pure, no I/O)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.remediation.domain import committee as committees
from services.remediation.domain.committee import (
    COMMITTEE,
    MAX_MEETINGS,
    CommitteeMeetingHeld,
    CommitteeMember,
    CommitteeMembersChanged,
    CommitteeUpdated,
    Side,
)
from services.remediation.errors import (
    CommitteeUnbalanced,
    MeetingInFuture,
    MeetingLimitReached,
    UnknownAttendee,
)
from services.remediation.tests.unit.domain_givens import (
    FACTORY,
    REPORT,
    committee_given,
    log,
    meeting,
)


class TestCommittee:
    def test_equal_sides_are_accepted(self) -> None:
        members = [
            CommitteeMember(member_id="m1", name="Ms Manager", side=Side.MANAGEMENT),
            CommitteeMember(member_id="w1", name="Mr Worker", side=Side.WORKER),
        ]
        events = committees.set_members(
            COMMITTEE.initial, factory_id=FACTORY, members=members, changed_by="f"
        )
        [changed] = events
        assert isinstance(changed, CommitteeMembersChanged) and changed.members == members
        committee = COMMITTEE.fold(events)
        assert committee.version == 1
        assert [m.member_id for m in committee.members] == ["m1", "w1"]

    @pytest.mark.parametrize(
        "sides", [[Side.MANAGEMENT, Side.MANAGEMENT, Side.WORKER], [], [Side.WORKER]]
    )
    def test_unequal_or_empty_sides_are_refused(self, sides: list[Side]) -> None:
        members = [
            CommitteeMember(member_id=f"m{i}", name="x", side=s) for i, s in enumerate(sides)
        ]
        with pytest.raises(CommitteeUnbalanced):
            committees.set_members(
                COMMITTEE.initial, factory_id=FACTORY, members=members, changed_by="f"
            )

    def test_a_meeting_is_logged_with_attendees_and_decisions(self) -> None:
        committee = committee_given()
        events = log(
            committee,
            attendees=["m1", "w1", "w1"],
            decisions=["endorse the plan"],
            endorses_plan=True,
        )
        [held] = events
        assert isinstance(held, CommitteeMeetingHeld)
        assert held.meeting.attendees == ["m1", "w1"]
        assert held.meeting.both_sides_present
        committee = COMMITTEE.fold(events, committee)
        assert committee.version == 2
        assert committee.latest_endorsement == held.meeting

    def test_unknown_attendees_and_future_meetings_are_refused(self) -> None:
        committee = committee_given()
        with pytest.raises(UnknownAttendee):
            log(committee, attendees=["m1", "x"])
        with pytest.raises(MeetingInFuture):
            log(committee, attendees=["m1"], held_on=REPORT + timedelta(days=1))

    def test_a_one_sided_endorsement_does_not_count(self) -> None:
        committee = committee_given()
        committee = COMMITTEE.fold(
            log(committee, attendees=["m1"], decisions=["ok"], endorses_plan=True), committee
        )
        assert committee.latest_endorsement is None

    def test_older_summary_events_still_decode_and_change_nothing_but_the_version(self) -> None:
        committee = committee_given()
        summary = CommitteeUpdated(
            factory_id=FACTORY, committee_version=2, change="members_changed", members=[]
        )
        after = COMMITTEE.fold([summary], committee)
        assert after.members == committee.members and after.version == committee.version + 1


class TestCommitteeLimits:
    def test_a_full_committee_logs_no_more_meetings(self) -> None:
        held = meeting("x", sides=(Side.MANAGEMENT,), endorses=False)
        committee = committee_given().model_copy(update={"meetings": (held,) * MAX_MEETINGS})
        with pytest.raises(MeetingLimitReached):
            log(committee, meeting_id="y", attendees=["m1"], today=date(2024, 3, 2))

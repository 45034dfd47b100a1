"""The bipartite committee (PICC) aggregate: its bounds, its events, its state folded from them
(`evolve`) and the pure `decide` functions of its commands. No I/O and no clock (callers pass
`today`)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from services.remediation.errors import (
    CommitteeUnbalanced,
    MeetingInFuture,
    MeetingLimitReached,
    UnknownAttendee,
)
from services.remediation.ids import COMMITTEE_STREAM_PREFIX

# Bounds on what grows with use (docs/remediation.md). A committee meets about monthly: 600
# meetings are fifty years of them, and the stream of a committee stays small enough to fold.
MAX_MEMBERS = 100
MAX_MEETINGS = 600
MAX_ATTENDEES = MAX_MEMBERS
MAX_DECISIONS = 50
MAX_DECISION_LENGTH = 2_000


class Side(StrEnum):
    MANAGEMENT = "management"
    WORKER = "worker"


class CommitteeMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    member_id: str
    name: str
    side: Side
    position: str | None = None


class CommitteeMeeting(BaseModel):
    model_config = ConfigDict(frozen=True)

    meeting_id: str
    held_on: date
    attendees: list[str]
    attendee_sides: list[Side]
    decisions: list[str]
    endorses_plan: bool

    @property
    def both_sides_present(self) -> bool:
        return Side.MANAGEMENT in self.attendee_sides and Side.WORKER in self.attendee_sides


# events ------------------------------------------------------------------------------------------


class CommitteeMembersChanged(DomainEvent):
    factory_id: str
    members: list[CommitteeMember]
    changed_by: str


class CommitteeMeetingHeld(DomainEvent):
    factory_id: str
    meeting: CommitteeMeeting
    logged_by: str


class CommitteeUpdated(DomainEvent):
    """No longer decided: older histories hold these summaries, so the class stays registered for
    them to decode; the committee ignores them and contract.translate computes the public one."""

    factory_id: str
    committee_version: int
    change: str
    members: list[CommitteeMember]
    meeting: CommitteeMeeting | None = None


COMMITTEE_EVENTS: tuple[type[DomainEvent], ...] = (
    CommitteeMembersChanged,
    CommitteeMeetingHeld,
    CommitteeUpdated,
)


# state -------------------------------------------------------------------------------------------


class Committee(BaseModel):
    """A factory's performance improvement consultative committee. `version` counts the events
    folded into it (the stream's version)."""

    model_config = ConfigDict(frozen=True)

    factory_id: str = ""
    version: int = 0
    members: tuple[CommitteeMember, ...] = ()
    meetings: tuple[CommitteeMeeting, ...] = ()

    def count(self, side: Side) -> int:
        return sum(1 for member in self.members if member.side == side)

    @property
    def latest_endorsement(self) -> CommitteeMeeting | None:
        """The most recent meeting where both sides endorsed the plan."""
        endorsing = [m for m in self.meetings if m.endorses_plan and m.both_sides_present]
        return max(endorsing, key=lambda meeting: meeting.held_on, default=None)


def evolve(committee: Committee, event: DomainEvent) -> Committee:
    version = committee.version + 1
    match event:
        case CommitteeMembersChanged():
            return committee.model_copy(
                update={
                    "version": version,
                    "factory_id": event.factory_id,
                    "members": tuple(event.members),
                }
            )
        case CommitteeMeetingHeld():
            return committee.model_copy(
                update={
                    "version": version,
                    "factory_id": event.factory_id,
                    "meetings": (*committee.meetings, event.meeting),
                }
            )
        case _:  # CommitteeUpdated: a summary, from older histories
            return committee.model_copy(update={"version": version})


COMMITTEE = AggregateType(
    stream_type="Committee",
    stream_prefix=COMMITTEE_STREAM_PREFIX,
    initial=Committee(),
    evolve=evolve,
)


# commands ----------------------------------------------------------------------------------------


def set_members(
    committee: Committee, *, factory_id: str, members: list[CommitteeMember], changed_by: str
) -> list[DomainEvent]:
    management = sum(1 for member in members if member.side == Side.MANAGEMENT)
    workers = len(members) - management
    if management == 0 or management != workers:
        raise CommitteeUnbalanced(management, workers)
    return [CommitteeMembersChanged(factory_id=factory_id, members=members, changed_by=changed_by)]


def log_meeting(
    committee: Committee,
    *,
    factory_id: str,
    meeting_id: str,
    held_on: date,
    attendees: list[str],
    decisions: list[str],
    endorses_plan: bool,
    logged_by: str,
    today: date,
) -> list[DomainEvent]:
    if held_on > today:
        raise MeetingInFuture()
    if len(committee.meetings) >= MAX_MEETINGS:
        raise MeetingLimitReached(MAX_MEETINGS)
    sides = {member.member_id: member.side for member in committee.members}
    unknown = [member_id for member_id in attendees if member_id not in sides]
    if unknown or not attendees:
        raise UnknownAttendee(unknown or ["(no attendees)"])
    unique_attendees = list(dict.fromkeys(attendees))
    meeting = CommitteeMeeting(
        meeting_id=meeting_id,
        held_on=held_on,
        attendees=unique_attendees,
        attendee_sides=sorted({sides[member_id] for member_id in unique_attendees}),
        decisions=decisions,
        endorses_plan=endorses_plan,
    )
    return [CommitteeMeetingHeld(factory_id=factory_id, meeting=meeting, logged_by=logged_by)]

"""Domain errors of the remediation service: plain exceptions with a `detail` (their message) and,
where the client needs more, an `extensions` mapping; app.py maps them to problem+json."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.remediation.domain.plan_events import ItemStatus

# Bounds on what grows with use (docs/remediation.md). A committee meets about monthly: 600
# meetings are fifty years of them, and the stream of a committee stays small enough to fold.
MAX_MEMBERS = 100
MAX_MEETINGS = 600
MAX_ATTENDEES = MAX_MEMBERS
MAX_DECISIONS = 50
MAX_DECISION_LENGTH = 2_000


class RemediationError(Exception):
    """A rule of the domain refused the command."""


class NoSuchPlan(RemediationError):
    def __init__(self, factory_id: str) -> None:
        super().__init__(f"no improvement plan for factory {factory_id}")


class ItemNotFound(RemediationError):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"improvement item {item_id} not found")


class TransitionNotAllowed(RemediationError):
    def __init__(
        self, current: ItemStatus, requested: ItemStatus, allowed: list[ItemStatus]
    ) -> None:
        self.current, self.requested, self.allowed = current, requested, allowed
        names = ", ".join(status.value for status in allowed) or "none"
        super().__init__(
            f"cannot move an item from {current.value} to {requested.value}; allowed: {names}"
        )

    @property
    def extensions(self) -> Mapping[str, Any]:
        """What the client may do instead: the members of the 409 problem document."""
        return {
            "current_status": self.current.value,
            "requested_status": self.requested.value,
            "allowed": [status.value for status in self.allowed],
        }


class ItemNotEditable(RemediationError):
    def __init__(self, status: ItemStatus) -> None:
        super().__init__(f"an item that is {status.value} cannot be edited; reopen it first")


class ItemIncomplete(RemediationError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"fill in {', '.join(missing)} before marking the item done")


class ReasonRequired(RemediationError):
    def __init__(self) -> None:
        super().__init__("reopening an item needs a reason")


class DueDateOutsideWindow(RemediationError):
    def __init__(self, earliest: date, latest: date) -> None:
        super().__init__(
            f"the due date must be between {earliest.isoformat()} and {latest.isoformat()}"
        )


class NothingToPublish(RemediationError):
    def __init__(self) -> None:
        super().__init__("the plan has no assessment report yet")


class EndorsementRequired(RemediationError):
    def __init__(self) -> None:
        super().__init__(
            "publishing needs a new committee meeting, with both management and workers present, "
            "that endorsed the plan"
        )


class CommitteeUnbalanced(RemediationError):
    def __init__(self, management: int, workers: int) -> None:
        super().__init__(
            "a committee needs equal, non-zero numbers of management and worker members "
            f"(got {management} management, {workers} worker)"
        )


class UnknownAttendee(RemediationError):
    def __init__(self, member_ids: list[str]) -> None:
        super().__init__(f"not committee members: {', '.join(member_ids)}")


class MeetingInFuture(RemediationError):
    def __init__(self) -> None:
        super().__init__("a meeting can only be logged once it has taken place")


class MeetingLimitReached(RemediationError):
    def __init__(self) -> None:
        super().__init__(f"a committee keeps at most {MAX_MEETINGS} meetings")

"""Domain errors of the remediation service: subclasses of `libs.domain.errors` (a `detail`, and
`extensions` members where the client needs more); service.py names their problem types."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from libs.domain.errors import Conflict, DomainError, NotFound

if TYPE_CHECKING:
    from services.remediation.domain.plan_events import ItemStatus


class NoSuchPlan(NotFound):
    def __init__(self, factory_id: str) -> None:
        super().__init__(f"no improvement plan for factory {factory_id}")


class ItemNotFound(NotFound):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"improvement item {item_id} not found")


class TransitionNotAllowed(Conflict):
    """The members of the 409 say what the client may do instead."""

    def __init__(
        self, current: ItemStatus, requested: ItemStatus, allowed: list[ItemStatus]
    ) -> None:
        self.current, self.requested, self.allowed = current, requested, allowed
        names = ", ".join(status.value for status in allowed) or "none"
        super().__init__(
            f"cannot move an item from {current.value} to {requested.value}; allowed: {names}",
            current_status=current.value,
            requested_status=requested.value,
            allowed=[status.value for status in allowed],
        )


class ItemNotEditable(Conflict):
    def __init__(self, status: ItemStatus) -> None:
        super().__init__(f"an item that is {status.value} cannot be edited; reopen it first")


class ItemIncomplete(Conflict):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"fill in {', '.join(missing)} before marking the item done")


class NothingToPublish(Conflict):
    def __init__(self) -> None:
        super().__init__("the plan has no assessment report yet")


class EndorsementRequired(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "publishing needs a new committee meeting, with both management and workers present, "
            "that endorsed the plan"
        )


class PublicationTooLarge(Conflict):
    def __init__(self, size: int, budget: int) -> None:
        super().__init__(
            f"the plan's published content would be about {size // 1024} KiB, more than the "
            f"{budget // 1024} KiB one publication carries; shorten root causes and actions",
            size_bytes=size,
            budget_bytes=budget,
        )


class ReasonRequired(DomainError):
    def __init__(self) -> None:
        super().__init__("reopening an item needs a reason")


class DueDateOutsideWindow(DomainError):
    def __init__(self, earliest: date, latest: date) -> None:
        super().__init__(
            f"the due date must be between {earliest.isoformat()} and {latest.isoformat()}"
        )


class CommitteeUnbalanced(DomainError):
    def __init__(self, management: int, workers: int) -> None:
        super().__init__(
            "a committee needs equal, non-zero numbers of management and worker members "
            f"(got {management} management, {workers} worker)"
        )


class UnknownAttendee(DomainError):
    def __init__(self, member_ids: list[str]) -> None:
        super().__init__(f"not committee members: {', '.join(member_ids)}")


class MeetingInFuture(DomainError):
    def __init__(self) -> None:
        super().__init__("a meeting can only be logged once it has taken place")


class MeetingLimitReached(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"a committee keeps at most {limit} meetings")


class HistoryEntryRefused(DomainError):
    """A record of an imported history breaks a rule of its own (a date it cannot hold): `field`
    names the record's field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(reason)


class CommitteeExists(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "the factory already has a committee in this system (kept through the API, or by an "
            "earlier committee record): importing one would replace its members with past ones"
        )


class HistoryRefused(DomainError):
    """The rules refused some entries of an imported history; nothing of it was appended.
    `refusals`: (the entry's position in the command, the record's field, the reason)."""

    def __init__(self, refusals: list[tuple[int, str, str]]) -> None:
        self.refusals = refusals
        super().__init__(f"{len(refusals)} history entries refused")

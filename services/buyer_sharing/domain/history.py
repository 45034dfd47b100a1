"""A programme's past in buyer sharing, pure: the history records of buyers, sharing grants and
audit-reliance declarations (`libs.domain.history.buyer_sharing`) become the events the live
commands would have appended, each at its business time (noon UTC of its day), decided by the
live rules of `domain.buyer` and `domain.sharing`.

What history changes: "now" is the record's own day, so a grant's end date is never "in the past"
of it. What it adds: nothing in a history happens after today; a grant is not older than its
buyer; one factory's grants to one buyer come in the order of their days and do not overlap
(several periods are several grants in time, a re-grant after a revocation or an expiry); a
reliance rests on the grant in force on its day, on an assessment reported by then, and ends at
the latest when that grant's revocation (or a new grant ending before its period) would have
ended it live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from libs.domain.envelope import DomainEvent
from libs.domain.errors import DomainError
from libs.domain.history.bundle import at_noon
from libs.domain.history.buyer_sharing import BuyerRecord, GrantRecord, RelianceRecord
from services.buyer_sharing.domain import buyer, sharing
from services.buyer_sharing.errors import RejectedRecord


@dataclass(frozen=True)
class Dated:
    """Events that happened at one moment (business time)."""

    at: datetime
    events: Sequence[DomainEvent]


def _not_after_today(day: date | None, today: date, field: str) -> None:
    if day is not None and day > today:
        raise RejectedRecord(field, f"{day} is after today ({today}): a history holds the past")


def register_buyer(
    state: buyer.Buyer, record: BuyerRecord, *, buyer_id: str, by: str, today: date
) -> list[Dated]:
    """The buyer registered on the day it joined the programme."""
    _not_after_today(record.joined_on, today, "joined_on")
    at = at_noon(record.joined_on)
    try:
        events = buyer.register_buyer(
            state,
            buyer_id=buyer_id,
            name=record.name,
            country=record.country,
            contact_name=record.contact_name,
            contact_email=record.contact_email,
            by=by,
            at=at,
        )
    except DomainError as error:
        raise RejectedRecord("source_id", error.detail) from error
    return [Dated(at, events)]


def grant(
    state: sharing.Sharing,
    record: GrantRecord,
    *,
    factory_id: str,
    buyer_id: str,
    buyer_joined: date,
    by: str,
    today: date,
) -> list[Dated]:
    """The grant on `granted_on` with its end date, and its revocation on `revoked_on`."""
    _not_after_today(record.granted_on, today, "granted_on")
    _not_after_today(record.revoked_on, today, "revoked_on")
    if record.granted_on < buyer_joined:
        raise RejectedRecord(
            "granted_on",
            f"{record.granted_on} is before the buyer joined the programme ({buyer_joined})",
        )
    granted_at = at_noon(record.granted_on)
    last = state.last_change
    if last is not None and granted_at < last:
        raise RejectedRecord(
            "granted_on",
            f"{record.granted_on} is before the latest change of this factory's sharing with "
            f"this buyer ({last.date()}): one pair's grants are imported in the order of their "
            "days",
        )
    if state.in_force(record.granted_on):
        since = state.periods[-1].granted_at.date() if state.periods else record.granted_on
        raise RejectedRecord(
            "granted_on",
            f"overlaps the grant in force since {since}: one factory's grants to one buyer do "
            "not overlap",
        )
    try:
        granted = sharing.grant(
            state,
            factory_id=factory_id,
            buyer_id=buyer_id,
            by=by,
            at=granted_at,
            ends_on=record.ends_on,
            reason=record.reason,
        )
    except DomainError as error:
        raise RejectedRecord("ends_on", error.detail) from error
    steps = [Dated(granted_at, granted)]
    if record.revoked_on is not None:
        revoked_at = at_noon(record.revoked_on)
        steps.append(
            Dated(
                revoked_at,
                sharing.revoke(
                    sharing.SHARING.fold(granted, state),
                    factory_id=factory_id,
                    buyer_id=buyer_id,
                    by=by,
                    at=revoked_at,
                    reason="",
                ),
            )
        )
    return steps


def declare_reliance(
    state: sharing.Sharing,
    record: RelianceRecord,
    *,
    reliance_id: str,
    factory_id: str,
    buyer_id: str,
    assessment_id: str,
    assessment: tuple[str, date] | None,
    by: str,
    today: date,
) -> list[Dated]:
    """The declaration on `declared_on`, and its withdrawal: on `withdrawn_on`, or earlier where
    the live system would have ended it (the grant's revocation, a new grant ending before the
    period). `assessment`: the factory and report date of the named assessment, if a completed
    assessment of that id is known here."""
    _not_after_today(record.declared_on, today, "declared_on")
    _not_after_today(record.withdrawn_on, today, "withdrawn_on")
    declared_at = at_noon(record.declared_on)
    index = next(
        (n for n, period in enumerate(state.periods) if period.in_force_at(declared_at)), None
    )
    if index is None:
        raise RejectedRecord(
            "declared_on",
            f"the factory shared nothing with the buyer on {record.declared_on}",
        )
    if assessment is None:
        raise RejectedRecord(
            "assessment", f"no completed assessment {record.assessment} is known here"
        )
    assessed_factory, reported = assessment
    if assessed_factory != factory_id:
        raise RejectedRecord(
            "assessment", f"{record.assessment} is not an assessment of factory {record.factory}"
        )
    if reported > record.declared_on:
        raise RejectedRecord(
            "assessment", f"{record.assessment} was reported on {reported}, after the declaration"
        )
    try:
        sharing.check_reliance_period(
            record.period_start, record.period_end, grant_ends_on=state.periods[index].ends_on
        )
    except DomainError as error:
        raise RejectedRecord("period_end", error.detail) from error
    steps = [
        Dated(
            declared_at,
            [
                sharing.AuditRelianceDeclared(
                    reliance_id=reliance_id,
                    factory_id=factory_id,
                    buyer_id=buyer_id,
                    assessment_id=assessment_id,
                    period_start=record.period_start,
                    period_end=record.period_end,
                    declared_by=by,
                    declared_at=declared_at,
                    note=record.note,
                )
            ],
        )
    ]
    end = ended_by_consent(state.periods[index:], record.period_end)
    if record.withdrawn_on is not None and (end is None or at_noon(record.withdrawn_on) < end[0]):
        end = (at_noon(record.withdrawn_on), "withdrawn")
    if end is not None:
        withdrawn_at, reason = end
        steps.append(
            Dated(
                withdrawn_at,
                [
                    sharing.AuditRelianceWithdrawn(
                        reliance_id=reliance_id,
                        factory_id=factory_id,
                        buyer_id=buyer_id,
                        withdrawn_by=by,
                        withdrawn_at=withdrawn_at,
                        reason=reason,
                    )
                ],
            )
        )
    return steps


def ended_by_consent(
    periods: Sequence[sharing.GrantPeriod], period_end: date
) -> tuple[datetime, str] | None:
    """When and why the live rules would have withdrawn a reliance declared in `periods[0]`
    whose period ends on `period_end`: the first revocation after it, or the first new grant
    ending before `period_end` (None: neither happened)."""
    for current, following in zip(periods, [*periods[1:], None], strict=True):
        if current.closed_at is None:
            return None
        if current.revoked:
            return current.closed_at, "sharing revoked"
        if following is None:  # closed by a grant: there is a following one
            return None
        if following.ends_on is not None and following.ends_on < period_end:
            return (
                following.granted_at,
                f"sharing now ends on {following.ends_on.isoformat()}, before the reliance period",
            )
    return None

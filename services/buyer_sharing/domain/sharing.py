"""The SharingGrant aggregate: the consent between one factory and one buyer (stream
`sharing-<factory>:<buyer>`), with its history of grants and revocations, and the buyer's audit
reliance declarations on that factory.

Reliance lives in the same aggregate as consent on purpose: "only with an active grant" and "a
revocation ends the reliance" are then decided on one stream, so no concurrent revocation can slip
between the check and the declaration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from libs.domain.errors import NotFound
from services.buyer_sharing.errors import InvalidPeriod, UnknownAssessment

# A reliance declaration replaces at most about two audit cycles.
MAX_RELIANCE_DAYS = 2 * 366


class SharingGranted(DomainEvent):
    """The factory gave the buyer access (again, or with a new end date)."""

    factory_id: str
    buyer_id: str
    granted_by: str
    granted_at: datetime
    ends_on: date | None = None
    reason: str = ""
    access_request_id: str | None = None


class SharingRevoked(DomainEvent):
    factory_id: str
    buyer_id: str
    revoked_by: str
    revoked_at: datetime
    reason: str = ""


class AuditRelianceDeclared(DomainEvent):
    reliance_id: str
    factory_id: str
    buyer_id: str
    assessment_id: str | None = None
    period_start: date
    period_end: date
    declared_by: str
    declared_at: datetime
    note: str = ""


class AuditRelianceWithdrawn(DomainEvent):
    reliance_id: str
    factory_id: str
    buyer_id: str
    withdrawn_by: str
    withdrawn_at: datetime
    reason: str = ""


SHARING_EVENTS: tuple[type[DomainEvent], ...] = (
    SharingGranted,
    SharingRevoked,
    AuditRelianceDeclared,
    AuditRelianceWithdrawn,
)


@dataclass(frozen=True)
class GrantPeriod:
    """One grant of the pair in time (business time): from `granted_at`, with its end date, until
    a new grant replaced it or a revocation ended it (`closed_at`; None while it is the latest)."""

    granted_at: datetime
    ends_on: date | None = None
    closed_at: datetime | None = None
    revoked: bool = False
    """Closed by a revocation (else by a new grant, or not closed)."""

    def in_force_at(self, moment: datetime) -> bool:
        """The grant gave access at `moment`: granted, not yet replaced or revoked, and not past
        its end date."""
        return (
            self.granted_at <= moment
            and (self.closed_at is None or moment < self.closed_at)
            and (self.ends_on is None or moment.date() <= self.ends_on)
        )


@dataclass(frozen=True)
class Sharing:
    active: bool = False
    ends_on: date | None = None
    reliances: Mapping[str, date] = field(default_factory=dict)
    """Reliance declarations in force, by id, with the last day of each one's period."""
    periods: tuple[GrantPeriod, ...] = ()
    """Every grant of the pair, in the order of the stream (which is their business time's)."""

    def in_force(self, today: date) -> bool:
        """Access is granted and not past its end date."""
        return self.active and (self.ends_on is None or today <= self.ends_on)

    @property
    def last_change(self) -> datetime | None:
        """When the pair's consent last changed (a grant or a revocation), in business time."""
        if not self.periods:
            return None
        latest = self.periods[-1]
        return latest.closed_at or latest.granted_at


def _closed(
    periods: tuple[GrantPeriod, ...], at: datetime, *, revoked: bool
) -> tuple[GrantPeriod, ...]:
    """`periods` with the latest one closed at `at` (if it is still open)."""
    if not periods or periods[-1].closed_at is not None:
        return periods
    return (*periods[:-1], replace(periods[-1], closed_at=at, revoked=revoked))


def evolve(sharing: Sharing, event: DomainEvent) -> Sharing:
    if isinstance(event, SharingGranted):
        periods = _closed(sharing.periods, event.granted_at, revoked=False)
        return replace(
            sharing,
            active=True,
            ends_on=event.ends_on,
            periods=(*periods, GrantPeriod(event.granted_at, event.ends_on)),
        )
    if isinstance(event, SharingRevoked):
        periods = _closed(sharing.periods, event.revoked_at, revoked=True)
        return replace(sharing, active=False, ends_on=None, periods=periods)
    if isinstance(event, AuditRelianceDeclared):
        return replace(
            sharing, reliances={**sharing.reliances, event.reliance_id: event.period_end}
        )
    if isinstance(event, AuditRelianceWithdrawn):
        remaining = {key: end for key, end in sharing.reliances.items() if key != event.reliance_id}
        return replace(sharing, reliances=remaining)
    return sharing


SHARING = AggregateType(
    stream_type="SharingGrant", stream_prefix="sharing-", initial=Sharing(), evolve=evolve
)


def grant(
    sharing: Sharing,
    *,
    factory_id: str,
    buyer_id: str,
    by: str,
    at: datetime,
    ends_on: date | None,
    reason: str = "",
    access_request_id: str | None = None,
) -> list[DomainEvent]:
    """Grant access; granting again records a new grant (e.g. a new end date) in the history.

    A grant again with an earlier end date withdraws the reliance declarations whose period runs
    past it, as a revocation would on that day: no reliance outlives the consent it rests on (the
    buyer may declare again within the new end date)."""
    if ends_on is not None and ends_on < at.date():
        raise InvalidPeriod(f"the end date {ends_on} is in the past")
    outlived: list[DomainEvent] = []
    if ends_on is not None:
        outlived = _withdrawals(
            sorted(key for key, period_end in sharing.reliances.items() if period_end > ends_on),
            factory_id=factory_id,
            buyer_id=buyer_id,
            by=by,
            at=at,
            reason=f"sharing now ends on {ends_on.isoformat()}, before the reliance period",
        )
    granted = [
        SharingGranted(
            factory_id=factory_id,
            buyer_id=buyer_id,
            granted_by=by,
            granted_at=at,
            ends_on=ends_on,
            reason=reason,
            access_request_id=access_request_id,
        )
    ]
    return granted + outlived


def _withdrawals(
    reliance_ids: list[str], *, factory_id: str, buyer_id: str, by: str, at: datetime, reason: str
) -> list[DomainEvent]:
    return [
        AuditRelianceWithdrawn(
            reliance_id=reliance_id,
            factory_id=factory_id,
            buyer_id=buyer_id,
            withdrawn_by=by,
            withdrawn_at=at,
            reason=reason,
        )
        for reliance_id in reliance_ids
    ]


def revoke(
    sharing: Sharing, *, factory_id: str, buyer_id: str, by: str, at: datetime, reason: str
) -> list[DomainEvent]:
    """Revoke access at once; every reliance declaration in force ends with it."""
    if not sharing.active:
        raise NotFound(f"factory {factory_id} shares nothing with buyer {buyer_id}")
    withdrawn = _withdrawals(
        sorted(sharing.reliances),
        factory_id=factory_id,
        buyer_id=buyer_id,
        by=by,
        at=at,
        reason="sharing revoked",
    )
    revoked = SharingRevoked(
        factory_id=factory_id, buyer_id=buyer_id, revoked_by=by, revoked_at=at, reason=reason
    )
    return [revoked, *withdrawn]


def declare_reliance(
    sharing: Sharing,
    *,
    reliance_id: str,
    factory_id: str,
    buyer_id: str,
    assessment_id: str,
    assessment_completed: bool,
    period_start: date,
    period_end: date,
    by: str,
    at: datetime,
    note: str = "",
) -> list[DomainEvent]:
    """Rely on `assessment_id`, which must be a completed assessment of the factory
    (`assessment_completed`, as the read models know it); checked after consent, so a buyer
    learns nothing of an unshared factory's assessments."""
    if not sharing.in_force(at.date()):
        # the same answer as for a factory that does not exist
        raise NotFound(f"factory {factory_id} not found")
    if not assessment_completed:
        raise UnknownAssessment(
            f"assessment {assessment_id} is not a completed assessment of factory {factory_id}"
        )
    check_reliance_period(period_start, period_end, grant_ends_on=sharing.ends_on)
    return [
        AuditRelianceDeclared(
            reliance_id=reliance_id,
            factory_id=factory_id,
            buyer_id=buyer_id,
            assessment_id=assessment_id,
            period_start=period_start,
            period_end=period_end,
            declared_by=by,
            declared_at=at,
            note=note,
        )
    ]


def check_reliance_period(
    period_start: date, period_end: date, *, grant_ends_on: date | None
) -> None:
    """The rules of a reliance period: it ends after it starts, spans at most
    MAX_RELIANCE_DAYS and ends by the end date of the grant it rests on."""
    if period_end < period_start:
        raise InvalidPeriod("the period ends before it starts")
    if (period_end - period_start).days > MAX_RELIANCE_DAYS:
        raise InvalidPeriod(f"a reliance period spans at most {MAX_RELIANCE_DAYS} days")
    if grant_ends_on is not None and period_end > grant_ends_on:
        # past its end date the grant counts as revoked, and a revocation ends the reliance
        raise InvalidPeriod(f"the period ends after the grant's end date {grant_ends_on}")


def withdraw_reliance(
    sharing: Sharing,
    *,
    reliance_id: str,
    factory_id: str,
    buyer_id: str,
    by: str,
    at: datetime,
    reason: str,
) -> list[DomainEvent]:
    if reliance_id not in sharing.reliances:
        raise NotFound(f"audit reliance {reliance_id} not found or already withdrawn")
    return [
        AuditRelianceWithdrawn(
            reliance_id=reliance_id,
            factory_id=factory_id,
            buyer_id=buyer_id,
            withdrawn_by=by,
            withdrawn_at=at,
            reason=reason,
        )
    ]

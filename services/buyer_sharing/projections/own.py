"""Read-model updates from this service's own events (buyers, consent, access requests, audit
reliance): `project_own` runs in the command's transaction (Repository(project=...)), so the
consent a read checks is the consent committed with the command; the rebuild replays the event
store through `project_event`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from services.buyer_sharing.domain import access_request as requests
from services.buyer_sharing.domain import buyer as buyers
from services.buyer_sharing.domain import sharing
from services.buyer_sharing.tables import (
    access_request,
    audit_reliance,
    buyer,
    sharing_grant,
    sharing_history,
)


async def project_own(unit: Any, change: Change[Any]) -> None:
    """Repository hook: project the command's events in its transaction (none in memory)."""
    connection: AsyncConnection | None = unit.connection
    if connection is None:
        return
    for event, envelope in zip(change.events, change.envelopes, strict=True):
        await project_event(connection, event, envelope.streamversion)


async def project_event(connection: AsyncConnection, event: DomainEvent, version: int) -> None:
    """One internal event of this service into the own read models."""
    if isinstance(event, buyers.BuyerRegistered):
        await connection.execute(
            insert(buyer)
            .values(
                buyer_id=event.buyer_id,
                name=event.name,
                country=event.country,
                contact_name=event.contact_name,
                contact_email=event.contact_email,
                registered_by=event.registered_by,
                registered_at=event.registered_at,
                version=version,
            )
            .on_conflict_do_nothing()
        )
    elif isinstance(event, sharing.SharingGranted):
        values = {
            "active": True,
            "granted_at": event.granted_at,
            "ends_on": event.ends_on,
            "revoked_at": None,
            "version": version,
        }
        statement = insert(sharing_grant).values(
            factory_id=event.factory_id, buyer_id=event.buyer_id, **values
        )
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[sharing_grant.c.factory_id, sharing_grant.c.buyer_id],
                set_=values,
                where=sharing_grant.c.version < version,
            )
        )
        await _history(
            connection,
            event.factory_id,
            event.buyer_id,
            version,
            action="granted",
            actor=event.granted_by,
            at=event.granted_at,
            reason=event.reason,
            ends_on=event.ends_on,
            access_request_id=event.access_request_id,
        )
    elif isinstance(event, sharing.SharingRevoked):
        await connection.execute(
            update(sharing_grant)
            .where(
                sharing_grant.c.factory_id == event.factory_id,
                sharing_grant.c.buyer_id == event.buyer_id,
                sharing_grant.c.version < version,
            )
            .values(active=False, revoked_at=event.revoked_at, version=version)
        )
        await _history(
            connection,
            event.factory_id,
            event.buyer_id,
            version,
            action="revoked",
            actor=event.revoked_by,
            at=event.revoked_at,
            reason=event.reason,
        )
    elif isinstance(event, sharing.AuditRelianceDeclared | sharing.AuditRelianceWithdrawn):
        # A reliance is on the pair's stream: the grant's version (its ETag) moves with it.
        await connection.execute(
            update(sharing_grant)
            .where(
                sharing_grant.c.factory_id == event.factory_id,
                sharing_grant.c.buyer_id == event.buyer_id,
                sharing_grant.c.version < version,
            )
            .values(version=version)
        )
        await _project_reliance(connection, event)
    else:
        await _project_requests(connection, event, version)


async def _project_reliance(
    connection: AsyncConnection,
    event: sharing.AuditRelianceDeclared | sharing.AuditRelianceWithdrawn,
) -> None:
    if isinstance(event, sharing.AuditRelianceDeclared):
        await connection.execute(
            insert(audit_reliance)
            .values(
                reliance_id=event.reliance_id,
                factory_id=event.factory_id,
                buyer_id=event.buyer_id,
                assessment_id=event.assessment_id,
                period_start=event.period_start,
                period_end=event.period_end,
                note=event.note,
                declared_by=event.declared_by,
                declared_at=event.declared_at,
            )
            .on_conflict_do_nothing()
        )
    else:
        await connection.execute(
            update(audit_reliance)
            .where(audit_reliance.c.reliance_id == event.reliance_id)
            .values(
                withdrawn_by=event.withdrawn_by,
                withdrawn_at=event.withdrawn_at,
                withdrawal_reason=event.reason,
            )
        )


async def _project_requests(connection: AsyncConnection, event: DomainEvent, version: int) -> None:
    if isinstance(event, requests.AccessRequested):
        await connection.execute(
            insert(access_request)
            .values(
                request_id=event.request_id,
                buyer_id=event.buyer_id,
                factory_id=event.factory_id,
                os_id=event.os_id,
                message=event.message,
                status="pending",
                requested_by=event.requested_by,
                requested_at=event.requested_at,
                version=version,
            )
            .on_conflict_do_nothing()
        )
    elif isinstance(event, requests.AccessApproved):
        await _decided(
            connection,
            event.request_id,
            version,
            "approved",
            event.factory_id,
            event.approved_by,
            event.approved_at,
            event.reason,
        )
    elif isinstance(event, requests.AccessDeclined):
        await _decided(
            connection,
            event.request_id,
            version,
            "declined",
            event.factory_id,
            event.declined_by,
            event.declined_at,
            event.reason,
        )


async def _decided(
    connection: AsyncConnection,
    request_id: str,
    version: int,
    status: str,
    factory_id: str,
    by: str,
    at: datetime,
    reason: str,
) -> None:
    await connection.execute(
        update(access_request)
        .where(access_request.c.request_id == request_id, access_request.c.version < version)
        .values(
            status=status,
            factory_id=factory_id,
            decided_by=by,
            decided_at=at,
            decision_reason=reason,
            version=version,
        )
    )


async def _history(
    connection: AsyncConnection, factory_id: str, buyer_id: str, version: int, **values: Any
) -> None:
    values.setdefault("ends_on", None)
    values.setdefault("access_request_id", None)
    await connection.execute(
        insert(sharing_history)
        .values(factory_id=factory_id, buyer_id=buyer_id, version=version, **values)
        .on_conflict_do_nothing()
    )

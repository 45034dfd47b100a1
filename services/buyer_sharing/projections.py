"""Read-model updates of buyer sharing.

`project_own` runs in the command's transaction (Repository(project=...)), so the consent a read
checks is the consent committed with the command. `project_upstream` applies an upstream public
event; each update is idempotent and order-safe (guarded by the version it reflects, or keyed by
the event's id), so redelivered and reordered events leave the same rows. The rebuild
(consumers.rebuild) calls the same functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.aggregate import Change
from libs.events.envelope import DomainEvent, Envelope
from services.buyer_sharing import upstream
from services.buyer_sharing.domain import access_request as requests
from services.buyer_sharing.domain import buyer as buyers
from services.buyer_sharing.domain import sharing
from services.buyer_sharing.tables import (
    SCHEMA,
    access_request,
    audit_reliance,
    buyer,
    factory,
    finding,
    finding_note,
    metadata,
    plan_item,
    plan_progress,
    report,
    report_result,
    sharing_grant,
    sharing_history,
)

__all__ = ["SCHEMA", "metadata", "project_event", "project_own", "project_upstream"]


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


# --- upstream -----------------------------------------------------------------------------------


async def project_upstream(
    connection: AsyncConnection, envelope: Envelope, event: DomainEvent
) -> None:
    """One upstream public event into the upstream read models (idempotent, order-safe)."""
    version = envelope.streamversion
    if isinstance(event, upstream.FactoryRegistered | upstream.FactoryUpdated):
        values = {
            "name": event.name,
            "country": event.country,
            "os_id": event.os_id,
            "version": version,
        }
        await connection.execute(
            insert(factory)
            .values(factory_id=event.factory_id, **values)
            .on_conflict_do_update(
                index_elements=[factory.c.factory_id],
                set_=values,
                where=factory.c.version < version,
            )
        )
    elif isinstance(event, upstream.AssessmentCompleted):
        await _completed(connection, event, version)
    elif isinstance(event, upstream.NonComplianceFound):
        await connection.execute(
            insert(finding)
            .values(
                assessment_id=event.assessment_id,
                question_id=event.question_id,
                factory_id=event.factory_id,
                cluster_id=event.cluster_id,
                cluster_name=event.cluster_name,
                compliance_point_id=event.compliance_point_id,
                compliance_point_name=event.compliance_point_name,
                question_text=event.question_text,
                critical=event.critical,
                zero_tolerance=event.zero_tolerance,
                evidence=event.evidence,
            )
            .on_conflict_do_nothing()
        )
    elif isinstance(event, upstream.FindingCorrected):
        await _note(
            connection,
            envelope,
            event,
            kind="correction",
            text=event.evidence,
            reason=event.reason,
            actor=event.corrected_by,
            result_before=event.result_before,
            result_after=event.result_after,
        )
        statement = insert(report_result).values(
            assessment_id=event.assessment_id,
            question_id=event.question_id,
            factory_id=event.factory_id,
            result=event.result_after,
            result_version=version,
        )
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[report_result.c.assessment_id, report_result.c.question_id],
                set_={"result": event.result_after, "result_version": version},
                where=report_result.c.result_version < version,
            )
        )
    elif isinstance(event, upstream.FactoryResponded):
        await _note(connection, envelope, event, kind="response", text=event.text)
    elif isinstance(event, upstream.FindingDisputed):
        await _note(
            connection, envelope, event, kind="dispute", text=event.text, reason=event.reason
        )
    elif isinstance(event, upstream.ImprovementPlanUpdated):
        await _plan_updated(connection, event)
    elif isinstance(event, upstream.ImprovementPlanPublished):
        await connection.execute(
            update(plan_progress)
            .where(
                plan_progress.c.factory_id == event.factory_id,
                plan_progress.c.plan_version <= event.plan_version,
            )
            .values(published=True)
        )


async def _completed(
    connection: AsyncConnection, event: upstream.AssessmentCompleted, version: int
) -> None:
    await connection.execute(
        insert(report)
        .values(
            assessment_id=event.assessment_id,
            factory_id=event.factory_id,
            cycle=event.cycle,
            country=event.country,
            catalogue_version=event.catalogue_version,
            report_date=event.report_date,
            non_compliance_count=event.non_compliance_count,
            summary=[cluster.model_dump(mode="json") for cluster in event.summary],
        )
        .on_conflict_do_nothing()
    )
    if not event.results:
        return
    statement = insert(report_result).values(
        [
            {
                "assessment_id": event.assessment_id,
                "question_id": result.question_id,
                "factory_id": event.factory_id,
                "cluster_id": result.cluster_id,
                "compliance_point_id": result.compliance_point_id,
                "critical": result.critical,
                "zero_tolerance": result.zero_tolerance,
                "result": result.result,
                "result_version": version,
            }
            for result in event.results
        ]
    )
    newer = report_result.c.result_version < statement.excluded.result_version
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[report_result.c.assessment_id, report_result.c.question_id],
            set_={
                "cluster_id": statement.excluded.cluster_id,
                "compliance_point_id": statement.excluded.compliance_point_id,
                "critical": statement.excluded.critical,
                "zero_tolerance": statement.excluded.zero_tolerance,
                # a correction that arrived first keeps its result
                "result": case((newer, statement.excluded.result), else_=report_result.c.result),
                "result_version": func.greatest(
                    report_result.c.result_version, statement.excluded.result_version
                ),
            },
        )
    )


async def _note(
    connection: AsyncConnection,
    envelope: Envelope,
    event: upstream.FindingCorrected | upstream.FactoryResponded | upstream.FindingDisputed,
    *,
    kind: str,
    text: str,
    reason: str = "",
    actor: str = "factory",
    result_before: str | None = None,
    result_after: str | None = None,
) -> None:
    await connection.execute(
        insert(finding_note)
        .values(
            event_id=envelope.id,
            assessment_id=event.assessment_id,
            question_id=event.question_id,
            factory_id=event.factory_id,
            stream_version=envelope.streamversion,
            kind=kind,
            text=text,
            reason=reason,
            result_before=result_before,
            result_after=result_after,
            actor=actor or "unknown",
            at=envelope.time,
        )
        .on_conflict_do_nothing()
    )


async def _plan_updated(
    connection: AsyncConnection, event: upstream.ImprovementPlanUpdated
) -> None:
    item = event.item
    item_values = {
        "factory_id": event.factory_id,
        "assessment_id": item.assessment_id,
        "question_id": item.question_id,
        "critical": item.critical,
        "zero_tolerance": item.zero_tolerance,
        "status": item.status,
        "overdue": item.overdue,
        "due_date": item.due_date,
        "plan_version": event.plan_version,
    }
    await connection.execute(
        insert(plan_item)
        .values(item_id=item.item_id, **item_values)
        .on_conflict_do_update(
            index_elements=[plan_item.c.item_id],
            set_=item_values,
            where=plan_item.c.plan_version < event.plan_version,
        )
    )
    progress = event.progress
    progress_values = {
        "total": progress.total,
        "open": progress.open,
        "in_progress": progress.in_progress,
        "done": progress.done,
        "verified": progress.verified,
        "overdue": progress.overdue,
        "published": progress.published,
        "publication_late": progress.publication_late,
        "publication_due_date": progress.publication_due_date,
        "plan_version": event.plan_version,
    }
    statement = insert(plan_progress).values(factory_id=event.factory_id, **progress_values)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[plan_progress.c.factory_id],
            set_={
                **progress_values,
                # a publication seen at a later version is not undone by an older summary
                "published": plan_progress.c.published | statement.excluded.published,
            },
            where=and_(plan_progress.c.plan_version < event.plan_version),
        )
    )

"""Read-model updates of notifications: the endpoint table, projected in the command's
transaction from the WebhookEndpoint events (read your writes). `endpoint_changes` says what one
event does to an endpoint's row, for the live projection and the rebuild alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from services.notifications.domain import endpoint as ep
from services.notifications.tables import endpoint
from services.notifications.upstream import DELIVERABLE


def deliverable_types(event_types: tuple[str, ...]) -> list[str]:
    """The types an endpoint is shown and served: those still deliverable (an endpoint
    registered when `AssessmentScheduled` could be asked for keeps it in its history only)."""
    return [name for name in event_types if name in DELIVERABLE]


def endpoint_changes(event: DomainEvent) -> dict[str, Any] | None:
    """The columns an endpoint event sets (all of them for a registration, which makes the row),
    without `version`; None for an event that does not touch the row."""
    if isinstance(event, ep.WebhookEndpointRegistered):
        return {
            "endpoint_id": event.endpoint_id,
            "buyer_id": event.buyer_id,
            "url": event.url,
            "event_types": deliverable_types(event.event_types),
            "factory_ids": list(event.factory_ids) if event.factory_ids is not None else None,
            "description": event.description,
            "enabled": True,
            "disabled_reason": None,
            "deleted": False,
            "secret_fingerprint": event.secret_fingerprint,
            "created_at": event.registered_at,
            "updated_at": event.registered_at,
        }
    if isinstance(event, ep.WebhookEndpointUpdated):
        return {
            "url": event.url,
            "event_types": deliverable_types(event.event_types),
            "factory_ids": list(event.factory_ids) if event.factory_ids is not None else None,
            "description": event.description,
            "updated_at": event.updated_at,
        }
    if isinstance(event, ep.WebhookEndpointSecretRotated):
        return {"secret_fingerprint": event.secret_fingerprint, "updated_at": event.rotated_at}
    if isinstance(event, ep.WebhookEndpointEnabled):
        return {"enabled": True, "disabled_reason": None, "updated_at": event.enabled_at}
    if isinstance(event, ep.WebhookEndpointDisabled):
        return {"enabled": False, "disabled_reason": event.reason, "updated_at": event.disabled_at}
    if isinstance(event, ep.WebhookEndpointDeleted):
        return {"enabled": False, "deleted": True, "updated_at": event.deleted_at}
    return None


async def project_endpoint(unit: Any, change: Change[ep.Endpoint]) -> None:
    connection = unit.connection
    version = change.before.version
    for event in change.events:
        version += 1
        await _apply(connection, change.aggregate_id, event, version)


async def _apply(connection: Any, endpoint_id: str, event: DomainEvent, version: int) -> None:
    changes = endpoint_changes(event)
    if changes is None:
        return
    if isinstance(event, ep.WebhookEndpointRegistered):
        await connection.execute(
            insert(endpoint)
            .values(**changes, version=version)
            .on_conflict_do_nothing(index_elements=["endpoint_id"])
        )
        return
    row = endpoint.c
    await connection.execute(
        update(endpoint)
        .where(row.endpoint_id == endpoint_id, row.version < version)
        .values(**changes, version=version)
    )

"""Read-model updates of notifications: the endpoint table, projected in the command's
transaction from the WebhookEndpoint events (read your writes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from services.notifications import endpoint as ep
from services.notifications.tables import endpoint


async def project_endpoint(unit: Any, change: Change[ep.Endpoint]) -> None:
    connection = unit.connection
    version = change.before.version
    for event in change.events:
        version += 1
        await _apply(connection, event, version)


async def _apply(connection: Any, event: DomainEvent, version: int) -> None:
    row = endpoint.c
    if isinstance(event, ep.WebhookEndpointRegistered):
        values = {
            "endpoint_id": event.endpoint_id,
            "buyer_id": event.buyer_id,
            "url": event.url,
            "event_types": list(event.event_types),
            "factory_ids": list(event.factory_ids) if event.factory_ids is not None else None,
            "description": event.description,
            "enabled": True,
            "disabled_reason": None,
            "deleted": False,
            "secret_fingerprint": event.secret_fingerprint,
            "created_at": event.registered_at,
            "updated_at": event.registered_at,
            "version": version,
        }
        await connection.execute(
            insert(endpoint).values(values).on_conflict_do_nothing(index_elements=["endpoint_id"])
        )
        return
    changes: dict[str, Any]
    if isinstance(event, ep.WebhookEndpointUpdated):
        changes = {
            "url": event.url,
            "event_types": list(event.event_types),
            "factory_ids": list(event.factory_ids) if event.factory_ids is not None else None,
            "description": event.description,
            "updated_at": event.updated_at,
        }
    elif isinstance(event, ep.WebhookEndpointSecretRotated):
        changes = {"secret_fingerprint": event.secret_fingerprint, "updated_at": event.rotated_at}
    elif isinstance(event, ep.WebhookEndpointEnabled):
        changes = {"enabled": True, "disabled_reason": None, "updated_at": event.enabled_at}
    elif isinstance(event, ep.WebhookEndpointDisabled):
        changes = {
            "enabled": False,
            "disabled_reason": event.reason,
            "updated_at": event.disabled_at,
        }
    elif isinstance(event, ep.WebhookEndpointDeleted):
        changes = {"enabled": False, "deleted": True, "updated_at": event.deleted_at}
    else:
        return
    await connection.execute(
        update(endpoint)
        .where(row.endpoint_id == event.endpoint_id, row.version < version)
        .values(**changes, version=version)
    )

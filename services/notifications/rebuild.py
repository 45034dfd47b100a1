"""`python -m services.notifications rebuild`: the endpoint read model made again from the
service's own event history (the WebhookEndpoint streams), in one transaction that readers see
only once it has committed, each row worked out as the live projection writes it
(`projections.endpoint_changes`).

Only `endpoint` is a projection of the service's own events. The other tables are kept as they
are: `webhook_secret` holds the encrypted secrets themselves (the events carry only their
fingerprints), `grant_event` is read from buyer sharing's stream, and `message`, `attempt` and
`held_event` are the delivery state and log, fed by upstream events and the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, text

from libs.events.history import copy_rows, read_ahead, streams
from libs.events.store import RecordedEvent
from libs.servicekit.service import RebuildContext
from services.notifications.domain.endpoint import ENDPOINT, WebhookEndpointRegistered
from services.notifications.projections import endpoint_changes
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import OWN_READ_MODELS, SCHEMA, endpoint

FLUSH_ROWS = 2_000


@dataclass(frozen=True)
class RebuildReport:
    events: int
    endpoints: int

    def summary(self) -> str:
        return f"{self.endpoints} webhook endpoints"


def endpoint_row(history: list[RecordedEvent]) -> dict[str, Any] | None:
    """An endpoint's row after its whole stream, as the live projection leaves it: each event
    applied with the stream's version after it; a registration makes the row once."""
    row: dict[str, Any] | None = None
    for entry in history:
        changes = endpoint_changes(entry.event)
        if changes is None:
            continue
        if isinstance(entry.event, WebhookEndpointRegistered):
            if row is None:
                row = {**changes, "version": entry.version}
        elif row is not None:
            row.update(changes, version=entry.version)
    return row


async def rebuild(context: RebuildContext[NotificationsSettings]) -> RebuildReport:
    """Replace the endpoint read model with what the whole history gives. Commands that write it
    wait for the rebuild to commit (the table is locked against writers, not readers)."""
    engine = context.engine
    pending: list[dict[str, Any]] = []
    events = endpoints = 0
    async with engine.begin() as connection, engine.connect() as reader:
        names = ", ".join(f"{SCHEMA}.{table.name}" for table in OWN_READ_MODELS)
        await connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
        await connection.execute(delete(endpoint))

        async def flush() -> None:
            nonlocal endpoints
            if pending:
                await copy_rows(connection, endpoint, pending)
                endpoints += len(pending)
                pending.clear()

        # the history is read on its own connection, ahead, while this one writes; its one
        # statement starts after the lock, so it sees every event committed before the rebuild
        history = streams(
            reader,
            SCHEMA,
            context.registry,
            progress=lambda done, total: context.progress("events", done, total),
        )
        async for stream in read_ahead(history):
            events += len(stream.events)
            if stream.stream_id.startswith(ENDPOINT.stream_prefix):
                row = endpoint_row(stream.events)
                if row is not None:
                    pending.append(row)
            if len(pending) >= FLUSH_ROWS:
                await flush()
        await flush()
    return RebuildReport(events, endpoints)

"""Read-model updates from this service's own events (buyers, consent, access requests, audit
reliance): `project_own` runs in the command's transaction (Repository(project=...)), so the
consent a read checks is the consent committed with the command; the history import projects a
request's events at once, and the rebuild replays the event store in batches, through the same
`project_events`.

Buyers, grants and reliance declarations are written set-based: a batch's events are merged per
row in their order (`OwnRows`), then each kind of change is one statement on the driver
connection (own_statements.py), so a batch leaves the rows its events one by one would. Access
requests, one or two per command, are written event by event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from libs.events.store import driver_connection
from services.buyer_sharing.domain import access_request as requests
from services.buyer_sharing.domain import buyer as buyers
from services.buyer_sharing.domain import sharing
from services.buyer_sharing.projections import own_statements as sql
from services.buyer_sharing.tables import access_request

Pair = tuple[str, str]


async def project_own(unit: Any, change: Change[Any]) -> None:
    """Repository hook: project the command's events in its transaction (none in memory)."""
    connection: AsyncConnection | None = unit.connection
    if connection is None:
        return
    await project_events(
        connection,
        [
            (event, envelope.streamversion)
            for event, envelope in zip(change.events, change.envelopes, strict=True)
        ],
    )


async def project_events(
    connection: AsyncConnection, items: Iterable[tuple[DomainEvent, int]]
) -> None:
    """Internal events of this service (each with its stream version), in the order they were
    appended, into the own read models."""
    rows = OwnRows()
    for event, version in items:
        if not rows.add(event, version):
            await _project_requests(connection, event, version)
    if rows:
        await rows.write(await driver_connection(connection))


@dataclass
class OwnRows:
    """A batch of buyer, grant and reliance events as rows per statement, merged per row."""

    buyers: list[tuple[Any, ...]] = field(default_factory=list)
    # a pair's whole grant row, from its last grant in the batch on
    grants: dict[Pair, list[Any]] = field(default_factory=dict)
    # a pair's change without a grant in the batch: [revoked, revoked_at, version]
    changes: dict[Pair, list[Any]] = field(default_factory=dict)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    declared: list[tuple[Any, ...]] = field(default_factory=list)
    withdrawn: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(
            (self.buyers, self.grants, self.changes, self.history, self.declared, self.withdrawn)
        )

    def add(self, event: DomainEvent, version: int) -> bool:
        """Take a buyer, grant or reliance event (False for another kind)."""
        if isinstance(event, buyers.BuyerRegistered):
            self.buyers.append(
                (
                    event.buyer_id,
                    event.name,
                    event.country,
                    event.contact_name,
                    event.contact_email,
                    event.registered_by,
                    event.registered_at,
                    version,
                )
            )
        elif isinstance(event, sharing.SharingGranted):
            pair = (event.factory_id, event.buyer_id)
            self.changes.pop(pair, None)
            self.grants[pair] = [*pair, True, event.granted_at, event.ends_on, None, version]
            self._history(
                pair,
                version,
                "granted",
                event.granted_by,
                event.granted_at,
                event.reason,
                event.ends_on,
                event.access_request_id,
            )
        elif isinstance(event, sharing.SharingRevoked):
            pair = (event.factory_id, event.buyer_id)
            self._changed(pair, version, revoked_at=event.revoked_at)
            self._history(
                pair,
                version,
                "revoked",
                event.revoked_by,
                event.revoked_at,
                event.reason,
                None,
                None,
            )
        elif isinstance(event, sharing.AuditRelianceDeclared):
            # a reliance is on the pair's stream: the grant's version (its ETag) moves with it
            self._changed((event.factory_id, event.buyer_id), version)
            self.declared.append(
                (
                    event.reliance_id,
                    event.factory_id,
                    event.buyer_id,
                    event.assessment_id,
                    event.period_start,
                    event.period_end,
                    event.note,
                    event.declared_by,
                    event.declared_at,
                )
            )
        elif isinstance(event, sharing.AuditRelianceWithdrawn):
            self._changed((event.factory_id, event.buyer_id), version)
            self.withdrawn[event.reliance_id] = (
                event.reliance_id,
                event.withdrawn_by,
                event.withdrawn_at,
                event.reason,
            )
        else:
            return False
        return True

    def _changed(self, pair: Pair, version: int, *, revoked_at: datetime | None = None) -> None:
        """The pair's row moved to `version` (and was revoked at `revoked_at`, if given)."""
        row = self.grants.get(pair)
        if row is not None:
            if revoked_at is not None:
                row[2], row[5] = False, revoked_at
            row[6] = version
            return
        change = self.changes.setdefault(pair, [False, None, version])
        if revoked_at is not None:
            change[0], change[1] = True, revoked_at
        change[2] = version

    def _history(self, pair: Pair, version: int, *values: Any) -> None:
        """A row of the pair's history: action, actor, at, reason, ends_on, access request."""
        self.history.append((*pair, version, *values))

    async def write(self, driver: asyncpg.Connection) -> None:
        """One statement per kind of change, grants before what follows them."""
        changes = [(*pair, *change) for pair, change in self.changes.items()]
        for statement, rows in (
            (sql.BUYER_SQL, self.buyers),
            (sql.GRANT_SQL, list(self.grants.values())),
            (sql.CHANGE_SQL, changes),
            (sql.HISTORY_SQL, self.history),
            (sql.DECLARED_SQL, self.declared),
            (sql.WITHDRAWN_SQL, list(self.withdrawn.values())),
        ):
            if rows:
                await driver.execute(statement, *_columns(rows))


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


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

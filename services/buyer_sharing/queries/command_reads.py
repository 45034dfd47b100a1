"""The reads a command makes in its own unit of work, on this service's read models: the lookups
its decision needs (`ReadModelLookups`) and the answer its caller gets, read after the projection
in the same transaction (`ReadModelAnswers`, the change's `answer`). Handler unit tests fake the
lookups and go without answers, the in-memory store having no read models."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.queries import consent
from services.buyer_sharing.tables import access_request, audit_reliance, factory, report

Row = dict[str, Any]

# a buyer's access requests are created one after the other (the limit of open ones is counted
# under it); transaction-scoped, so it is released when the request's unit of work ends
_BUYER_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('buyer_sharing.access_requests:' || "
    ":buyer_id, 0))"
)


def _connection(unit: Any) -> AsyncConnection:
    connection: AsyncConnection = unit.connection
    return connection


class ReadModelLookups:
    """What commands ask the read models before they decide (dependencies.Lookups)."""

    async def factory_by_os_id(self, unit: Any, os_id: str) -> str | None:
        found: str | None = await _connection(unit).scalar(
            select(factory.c.factory_id).where(factory.c.os_id == os_id).limit(1)
        )
        return found

    async def factory_os_id(self, unit: Any, factory_id: str) -> str | None:
        return await consent.factory_os_id(_connection(unit), factory_id)

    async def reliance_factory(self, unit: Any, reliance_id: str, buyer_id: str) -> str | None:
        """The factory of one of this buyer's declarations (another buyer's is not found)."""
        found: str | None = await _connection(unit).scalar(
            select(audit_reliance.c.factory_id).where(
                audit_reliance.c.reliance_id == reliance_id,
                audit_reliance.c.buyer_id == buyer_id,
            )
        )
        return found

    async def open_requests(self, unit: Any, buyer_id: str) -> int:
        connection = _connection(unit)
        await connection.execute(_BUYER_LOCK, {"buyer_id": buyer_id})
        count: int | None = await connection.scalar(
            select(func.count())
            .select_from(access_request)
            .where(access_request.c.buyer_id == buyer_id, access_request.c.status == "pending")
        )
        return count or 0

    async def completed_assessment(self, unit: Any, factory_id: str, assessment_id: str) -> bool:
        """A report exists only for a completed assessment (`AssessmentCompleted`)."""
        found = await _connection(unit).scalar(
            select(report.c.assessment_id).where(
                report.c.assessment_id == assessment_id, report.c.factory_id == factory_id
            )
        )
        return found is not None


class ReadModelAnswers:
    """The rows a command's caller gets back, as its own transaction left them (dependencies.Answers)."""

    async def buyer(self, unit: Any, buyer_id: str) -> Row | None:
        return await consent.buyer_row(_connection(unit), buyer_id)

    async def grant(self, unit: Any, factory_id: str, buyer_id: str) -> Row | None:
        return await consent.grant(_connection(unit), factory_id, buyer_id)

    async def access_request(self, unit: Any, request_id: str) -> Row | None:
        return await consent.access_request_row(_connection(unit), request_id)

    async def reliance(self, unit: Any, reliance_id: str) -> Row | None:
        return await consent.reliance(_connection(unit), reliance_id)

"""What commands read in their own unit of work: the read-model lookups their decisions need
(`handlers.dependencies.Lookups`) and their answers (`handlers.dependencies.Answers`), read after
the projection so that a client reads its own write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping

from libs.events.store import UnitOfWork
from services.assessment.queries.assessments import assessment_detail
from services.assessment.queries.factories import get_factory
from services.assessment.tables import assessment, factory


class ReadModelLookups:
    """What the command handlers ask the read models before they decide (handler unit tests pass
    a fake)."""

    async def os_id_owner(self, unit: UnitOfWork, os_id: str) -> str | None:
        owner = await unit.connection.scalar(
            select(factory.c.factory_id).where(factory.c.os_id == os_id)
        )
        return str(owner) if owner is not None else None

    async def last_cycle(self, unit: UnitOfWork, factory_id: str) -> int:
        cycle = await unit.connection.scalar(
            select(func.coalesce(func.max(assessment.c.cycle), 0)).where(
                assessment.c.factory_id == factory_id
            )
        )
        return int(cycle or 0)


class ReadModelAnswers:
    """A command's answer: the factory's row, or the assessment with its findings, as the
    command left them."""

    async def factory(self, unit: UnitOfWork, factory_id: str) -> RowMapping | None:
        return await get_factory(unit.connection, factory_id)

    async def assessment(self, unit: UnitOfWork, assessment_id: str) -> dict[str, Any] | None:
        return await assessment_detail(unit.connection, assessment_id)

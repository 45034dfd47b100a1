"""A command's answer, read in its own unit of work after the projection: the resource's read-model
row (handlers.dependencies.Answers), shaped by the route for its caller."""

from __future__ import annotations

from typing import Any

from libs.events.store import UnitOfWork
from services.advisory.queries.catalogue import get_course, get_survey
from services.advisory.queries.sessions import get_session
from services.advisory.queries.visits import get_visit

_READERS = {"course": get_course, "survey": get_survey, "session": get_session, "visit": get_visit}


class ReadModelAnswers:
    async def read(self, unit: UnitOfWork, kind: str, resource_id: str) -> Any:
        return await _READERS[kind](unit.connection, resource_id)

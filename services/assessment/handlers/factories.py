"""Command handlers of the Factory aggregate: registration and updates, with the Open Supply Hub ID
one factory's alone (a friendly early answer from the read model, the unique index under a race)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from libs.domain.aggregate import Change
from libs.domain.envelope import DomainEvent
from services.assessment.commands import RegisterFactory, UpdateFactory
from services.assessment.domain import factory as factories
from services.assessment.domain.factory import Factory, FactoryDetails
from services.assessment.errors import InvalidFactory, OsIdTaken
from services.assessment.handlers.dependencies import Dependencies
from services.assessment.handlers.guards import must_exist_in, unique_violation

OS_ID_INDEX = "uq_factory_os_id"


async def _refuse_taken_os_id(deps: Dependencies, unit: Any, os_id: str | None, owner: str) -> None:
    """A friendly early answer; the unique index decides when two registrations race."""
    if os_id is None:
        return
    current_owner = await deps.lookups.os_id_owner(unit, os_id)
    if current_owner is not None and current_owner != owner:
        raise OsIdTaken(os_id)


async def register_factory(command: RegisterFactory, deps: Dependencies) -> Change[Factory | None]:
    os_id = command.details.os_id
    try:
        async with deps.factories.store.unit_of_work(authorize_first=True) as unit:

            async def decide(factory: Factory | None) -> Sequence[DomainEvent]:
                await _refuse_taken_os_id(deps, unit, os_id, command.factory_id)
                return factories.register_factory(factory, command.factory_id, command.details)

            return await deps.factories.execute(
                command.factory_id,
                decide,
                # before anything is asked or replayed: a factory of a country the caller does
                # not work in is refused (403, as there is nothing to hide yet)
                authorize=lambda _loaded: command.scope.require(command.details.country),
                unit=unit,
                answer=deps.factory_answer(command.factory_id),
            )
    except IntegrityError as error:
        if os_id and unique_violation(error, OS_ID_INDEX):
            raise OsIdTaken(os_id) from error
        raise


async def update_factory(command: UpdateFactory, deps: Dependencies) -> Change[Factory | None]:
    os_id: str | None = None
    try:
        async with deps.factories.store.unit_of_work(authorize_first=True) as unit:

            async def decide(factory: Factory | None) -> Sequence[DomainEvent]:
                nonlocal os_id
                assert factory is not None  # authorized: it exists
                try:
                    details = FactoryDetails.model_validate(
                        {**factory.details(), **command.changes}
                    )
                except ValidationError as error:
                    raise InvalidFactory(_validation_message(error)) from error
                # moving a factory to a programme the caller does not work in
                command.scope.require(details.country)
                os_id = details.os_id
                await _refuse_taken_os_id(deps, unit, os_id, command.factory_id)
                return factories.update_factory(factory, details)

            return await deps.factories.execute(
                command.factory_id,
                decide,
                expected_version=command.expected_version,
                authorize=must_exist_in(command.scope, "factory", command.factory_id),
                unit=unit,
                answer=deps.factory_answer(command.factory_id),
            )
    except IntegrityError as error:
        if os_id and unique_violation(error, OS_ID_INDEX):
            raise OsIdTaken(os_id) from error
        raise


def _validation_message(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
        for problem in error.errors()
    )

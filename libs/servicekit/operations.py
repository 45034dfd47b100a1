"""Operator endpoints (admin only, outside the public `/v1` API): list the events a service's
consumers parked in its dead-letter store, and replay one after the cause was fixed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from libs.events.consumer import ConsumerRunner
from libs.events.runtime import EventRuntime
from libs.servicekit.auth import Principal, Role, require_roles
from libs.servicekit.problems import Conflict, NotFound

AdminOnly = Annotated[Principal, Depends(require_roles(Role.ADMIN))]

dead_letter_router = APIRouter(prefix="/ops/dead-letters", tags=["operations"])


class DeadLetterPublic(BaseModel):
    id: int
    consumer: str
    event_id: str
    nats_subject: str
    error: str
    attempts: int
    failed_at: datetime
    replayed_at: datetime | None
    replay_error: str | None


class ReplayResult(BaseModel):
    id: int
    consumer: str
    replayed: bool


def _consumers(request: Request) -> list[ConsumerRunner]:
    runtime: EventRuntime | None = getattr(request.app.state, "runtime", None)
    return list(runtime.consumers) if runtime is not None else []


@dead_letter_router.get("", response_model=list[DeadLetterPublic])
async def list_dead_letters(
    request: Request,
    _: AdminOnly,
    include_replayed: Annotated[bool, Query(description="Also list replayed ones.")] = False,
) -> list[DeadLetterPublic]:
    """Events this service's consumers gave up on, oldest first."""
    parked = []
    for runner in _consumers(request):
        for letter in await runner.dead_letters(include_replayed=include_replayed):
            parked.append(
                DeadLetterPublic(
                    id=letter.id,
                    consumer=letter.consumer,
                    event_id=letter.event_id,
                    nats_subject=letter.nats_subject,
                    error=letter.error,
                    attempts=letter.attempts,
                    failed_at=letter.failed_at,
                    replayed_at=letter.replayed_at,
                    replay_error=letter.replay_error,
                )
            )
    return sorted(parked, key=lambda letter: letter.id)


@dead_letter_router.post("/{dead_letter_id}/replay", response_model=ReplayResult)
async def replay_dead_letter(dead_letter_id: int, request: Request, _: AdminOnly) -> ReplayResult:
    """Run the consumer's handler again for a parked event (exactly once in effect)."""
    for runner in _consumers(request):
        try:
            await runner.replay(dead_letter_id)
        except LookupError:
            continue
        except Exception as error:
            raise Conflict(
                f"The handler failed again: {type(error).__name__}. The event stays parked.",
                title="Replay failed",
            ) from error
        return ReplayResult(id=dead_letter_id, consumer=runner.durable, replayed=True)
    raise NotFound(f"No open dead letter {dead_letter_id}.")

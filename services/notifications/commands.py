"""What callers ask of notifications: frozen commands with imperative names."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Command(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegisterEndpoint(Command):
    endpoint_id: str
    buyer_id: str
    url: str
    event_types: tuple[str, ...]
    factory_ids: tuple[str, ...] | None = None
    description: str = ""
    by: str


class UpdateEndpoint(Command):
    endpoint_id: str
    caller_buyer_id: str | None  # None: an admin
    url: str | None = None
    event_types: tuple[str, ...] | None = None
    factory_ids: tuple[str, ...] | None = None
    factory_ids_given: bool = False
    description: str | None = None
    enabled: bool | None = None
    expected_version: int | None = None
    by: str


class RotateSecret(Command):
    endpoint_id: str
    caller_buyer_id: str | None
    overlap_seconds: int | None = None  # None: the configured default
    by: str


class DeleteEndpoint(Command):
    endpoint_id: str
    caller_buyer_id: str | None
    expected_version: int | None = None
    by: str


class DisableEndpoint(Command):
    endpoint_id: str
    reason: str
    detail: str = ""


class SendTestMessage(Command):
    endpoint_id: str
    caller_buyer_id: str | None
    by: str


class Redeliver(Command):
    message_id: str
    caller_buyer_id: str | None


class Recover(Command):
    endpoint_id: str
    caller_buyer_id: str | None
    since: datetime

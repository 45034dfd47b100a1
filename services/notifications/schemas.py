"""Request and response models of notifications: XCreate, XUpdate, XPublic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from libs.domain.types import PlausibleDateTime, ResourceId, SafeLine, Token

EventTypeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]*$", max_length=100)]
Url = Annotated[Token, StringConstraints(max_length=2000)]
MessageStatus = Literal["pending", "succeeded", "failed", "cancelled"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointCreate(_Request):
    url: Url = Field(
        description="https URL; its host must resolve to public addresses only. Kept with its "
        "host in ASCII (IDNA); an empty or over-long label, or a port outside 1-65535, is a 422 "
        "`invalid-url`."
    )
    event_types: list[EventTypeName] = Field(
        min_length=1,
        max_length=50,
        description="Public event types a buyer may receive, e.g. AssessmentCompleted or "
        "TrainingSessionDelivered (`AssessmentScheduled` is not one: assessments are "
        "unannounced).",
    )
    factory_ids: list[ResourceId] | None = Field(
        None, max_length=1000, description="Only these shared factories; null: every one."
    )
    description: Annotated[SafeLine, StringConstraints(max_length=500)] = ""
    buyer_id: ResourceId | None = Field(
        None, description="Admins only: the buyer the endpoint is for. Buyer users omit it."
    )


class EndpointUpdate(_Request):
    url: Url | None = None
    event_types: list[EventTypeName] | None = Field(None, min_length=1, max_length=50)
    factory_ids: list[ResourceId] | None = Field(None, max_length=1000)
    description: Annotated[SafeLine, StringConstraints(max_length=500)] | None = None
    enabled: bool | None = None


class EndpointPublic(BaseModel):
    endpoint_id: str
    buyer_id: str
    url: str
    event_types: list[str]
    factory_ids: list[str] | None
    description: str
    enabled: bool
    disabled_reason: str | None
    secret_fingerprint: str
    created_at: datetime
    updated_at: datetime
    version: int


class EndpointCreated(EndpointPublic):
    secret: str = Field(description="The signing secret (`whsec_…`). Shown only this once.")


class RotateCreate(_Request):
    overlap_seconds: int | None = Field(
        None,
        ge=0,
        le=7 * 24 * 3600,
        description="How long the previous secret keeps signing beside the new one (default 24 h).",
    )


class SecretRotated(BaseModel):
    endpoint_id: str
    secret: str = Field(description="The new signing secret. Shown only this once.")
    secret_fingerprint: str
    previous_valid_until: datetime


class TestReceipt(BaseModel):
    message_id: str


class MessagePublic(BaseModel):
    message_id: str = Field(description="Also the `webhook-id` of every attempt.")
    endpoint_id: str
    event_id: str
    event_type: str
    factory_id: str | None
    event_time: datetime
    created_at: datetime
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None


class MessageDetail(MessagePublic):
    payload: dict[str, Any] | None = Field(description="The body sent; null past retention.")


class AttemptPublic(BaseModel):
    attempt_id: int
    message_id: str
    endpoint_id: str
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_body: str | None = Field(
        description="The first kilobyte of the answer, only when the receiver is at a public "
        "(globally routable) address; otherwise null: see `response_size`."
    )
    response_size: int | None = Field(
        description="Bytes of the answer, counted up to 65,536; null without an answer."
    )
    error: str | None
    succeeded: bool
    trigger: str


class RedeliverCreate(_Request):
    message_id: ResourceId


class RecoverCreate(_Request):
    endpoint_id: ResourceId
    since: PlausibleDateTime = Field(
        description="Failed messages created since this time (with its offset, 2000 to 2100)."
    )


class RecoverReceipt(BaseModel):
    endpoint_id: str
    recovering: int = Field(description="Failed messages queued again.")

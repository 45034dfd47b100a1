"""The buyer sharing service's public events: its contract with other services (notifications)
and with buyers' webhooks, typed, versioned and documented (docs/asyncapi.yaml), translated from
the internal events in one place (`translate`).

Contact details of buyers, free-text messages of access requests and who in an organisation acted
stay inside the service; an approval is published as the `SharingGranted` that names its request.

Besides the events translated from its history, the relay publishes the `ConsentWatermark`
(`watermark_document`) after it drained the outbox: for the programme's own services, never
deliverable to buyers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import Field

from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent, event_type
from libs.domain.identifiers import name_id
from services.buyer_sharing.domain import access_request, buyer, sharing

SERVICE = "buyer_sharing"


class BuyerRegistered(DomainEvent):
    """A buyer (brand) was registered with the programme."""

    buyer_id: str
    name: str
    country: str = Field(description="ISO 3166-1 alpha-2 code of the buyer's head office.")
    registered_at: datetime


class SharingGranted(DomainEvent):
    """A factory gave a buyer access to its reports (again, or with a new end date)."""

    factory_id: str
    buyer_id: str
    granted_at: datetime
    ends_on: date | None = Field(description="Last day of access; null: until revoked.")
    access_request_id: str | None = Field(
        description="The buyer's access request this grant approves; null if the factory offered."
    )


class SharingRevoked(DomainEvent):
    """A factory revoked a buyer's access: from now on the buyer sees nothing of it."""

    factory_id: str
    buyer_id: str
    revoked_at: datetime
    reason: str


class AccessRequested(DomainEvent):
    """A buyer asked a factory for access, by factory id or OS ID."""

    request_id: str
    buyer_id: str
    factory_id: str | None = Field(
        description="The factory id the buyer named; null when it named an OS ID (what that OS "
        "ID resolves to is not published: the buyer learns nothing before consent)."
    )
    os_id: str | None = Field(description="The OS ID the buyer named, normalised; null if none.")
    requested_at: datetime


class AccessDeclined(DomainEvent):
    """The factory declined a buyer's access request.

    Version 2: a request the buyer made by OS ID is declined without naming the factory (the buyer
    learns nothing of a factory that did not consent); `factory_id` is null then, `os_id` says
    what the buyer asked for, and `reason` is empty (the factory's words can name it). A reader of
    version 1 data upcasts it with `os_id` null."""

    schema_version = 2

    request_id: str
    factory_id: str | None = Field(
        description="The factory id the buyer named; null when it named an OS ID."
    )
    os_id: str | None = Field(description="The OS ID the buyer named, if it named one.")
    buyer_id: str
    declined_at: datetime
    reason: str = Field(
        description="The factory's reason; empty for a request made by OS ID (it can name the "
        "factory)."
    )


class AuditRelianceDeclared(DomainEvent):
    """A buyer relies on the factory's shared assessment instead of its own audit for a period."""

    reliance_id: str
    factory_id: str
    buyer_id: str
    assessment_id: str | None = Field(
        description="The factory's completed assessment relied on (always named since issue 22; "
        "null only in declarations made before)."
    )
    period_start: date
    period_end: date
    declared_at: datetime


class AuditRelianceWithdrawn(DomainEvent):
    """A buyer withdrew an audit reliance declaration, or the factory's revocation ended it."""

    reliance_id: str
    factory_id: str
    buyer_id: str
    withdrawn_at: datetime
    reason: str


class ConsentWatermark(DomainEvent):
    """Every grant and revocation buyer sharing committed before `as_of` stands before this
    message on the stream: a consumer that has applied it knows the consent state as of `as_of`.

    For the programme's own services (notifications checks, before each delivery to a buyer, that
    it applied one no older than a bound, and holds deliveries otherwise), never deliverable to
    buyers. Published by the outbox relay, after it drained the outbox under its lock and JetStream
    acknowledged everything it took, at most every `BW_CONSENT_WATERMARK_SECONDS` (5 s) while the
    relay and NATS run; the stream keeps only the latest (`Nats-Rollup`). Its envelope names no
    factory: `subject` is `consent`, `time` is `as_of`, `streamid` is `consent-watermark` at
    version 1 (order watermarks by `as_of`, never by stream version); its `Nats-Msg-Id` is
    `watermark-<as_of>`, set by the relay."""

    as_of: datetime = Field(description="RFC 3339, UTC: the database's time before the last take.")


PUBLIC_EVENTS: tuple[type[DomainEvent], ...] = (
    BuyerRegistered,
    SharingGranted,
    SharingRevoked,
    AccessRequested,
    AccessDeclined,
    AuditRelianceDeclared,
    AuditRelianceWithdrawn,
)
"""The public events translated from the service's history (`translate`)."""

RELAY_EVENTS: tuple[type[DomainEvent], ...] = (ConsentWatermark,)
"""The public events the relay publishes on its own (`watermark_document`)."""

WATERMARK_STREAM = "consent-watermark"
# the namespace of the watermarks' ids: one name-based UUID per `as_of`
_WATERMARK_IDS = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://betterwork.org/buyer_sharing/consent"))


def watermark_subject() -> str:
    """The watermark's NATS subject, without the deployment's prefix (the relay adds it)."""
    return f"{SERVICE}.{ConsentWatermark.event_name}.v{ConsentWatermark.schema_version}"


def watermark_document(as_of: datetime) -> bytes:
    """The watermark as of `as_of`: a CloudEvents 1.0 JSON document like the service's other
    public events (its members the library's `Envelope` requires included, so a consumer of this
    stream that does not read it passes over it), about no factory."""
    at = as_of.astimezone(UTC).isoformat()
    watermark_id = name_id(_WATERMARK_IDS, at)
    document = {
        "specversion": "1.0",
        "id": watermark_id,
        "source": f"/betterwork/{SERVICE}",
        "type": event_type(SERVICE, ConsentWatermark.event_name, ConsentWatermark.schema_version),
        "subject": "consent",
        "time": at,
        "datacontenttype": "application/json",
        "data": ConsentWatermark(as_of=as_of.astimezone(UTC)).model_dump(mode="json"),
        "correlationid": watermark_id,
        "streamid": WATERMARK_STREAM,
        "streamversion": 1,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def translate(event: DomainEvent, state: Any = None) -> Sequence[DomainEvent]:
    """The public events an internal event publishes; every field is mapped by name here."""
    if isinstance(event, buyer.BuyerRegistered):
        return [
            BuyerRegistered(
                buyer_id=event.buyer_id,
                name=event.name,
                country=event.country,
                registered_at=event.registered_at,
            )
        ]
    if isinstance(event, sharing.SharingGranted):
        return [
            SharingGranted(
                factory_id=event.factory_id,
                buyer_id=event.buyer_id,
                granted_at=event.granted_at,
                ends_on=event.ends_on,
                access_request_id=event.access_request_id,
            )
        ]
    if isinstance(event, sharing.SharingRevoked):
        return [
            SharingRevoked(
                factory_id=event.factory_id,
                buyer_id=event.buyer_id,
                revoked_at=event.revoked_at,
                reason=event.reason,
            )
        ]
    if isinstance(event, sharing.AuditRelianceDeclared):
        return [
            AuditRelianceDeclared(
                reliance_id=event.reliance_id,
                factory_id=event.factory_id,
                buyer_id=event.buyer_id,
                assessment_id=event.assessment_id,
                period_start=event.period_start,
                period_end=event.period_end,
                declared_at=event.declared_at,
            )
        ]
    if isinstance(event, sharing.AuditRelianceWithdrawn):
        return [
            AuditRelianceWithdrawn(
                reliance_id=event.reliance_id,
                factory_id=event.factory_id,
                buyer_id=event.buyer_id,
                withdrawn_at=event.withdrawn_at,
                reason=event.reason,
            )
        ]
    if isinstance(event, access_request.AccessRequested):
        # The buyer's own webhook receives this whatever its grants: a factory resolved from the
        # OS ID it named would tell it which factory that is, and that it exists, before consent.
        return [
            AccessRequested(
                request_id=event.request_id,
                buyer_id=event.buyer_id,
                factory_id=event.factory_id if event.os_id is None else None,
                os_id=event.os_id,
                requested_at=event.requested_at,
            )
        ]
    if isinstance(event, access_request.AccessDeclined):
        os_id = state.os_id if isinstance(state, access_request.AccessRequest) else None
        return [
            AccessDeclined(
                request_id=event.request_id,
                factory_id=event.factory_id if os_id is None else None,
                os_id=os_id,
                buyer_id=event.buyer_id,
                declined_at=event.declined_at,
                reason=event.reason if os_id is None else "",
            )
        ]
    # AccessApproved is published as the SharingGranted appended with it.
    return []


CONTRACT = PublicContract.of(SERVICE, (*PUBLIC_EVENTS, *RELAY_EVENTS), translate)

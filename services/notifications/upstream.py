"""Our own narrow copies of the upstream public events notifications reads: the deliverable ones
(only what routing needs: the factory, and the buyer for buyer sharing's events addressed to one
buyer; the webhook body is the whole CloudEvents document as published), and buyer sharing's
SharingGranted/SharingRevoked, which feed our grant read model."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from libs.domain.envelope import DomainEvent, EventRegistry


class FactoryEvent(DomainEvent):
    """A public event about one factory: delivered to buyers sharing it."""

    factory_id: str


class BuyerAddressedEvent(DomainEvent):
    """A buyer sharing event about one buyer and one factory: delivered to that buyer only."""

    buyer_id: str
    factory_id: str | None = None


def _factory_event(name: str, version: int = 1) -> type[DomainEvent]:
    return type(name, (FactoryEvent,), {"event_name": name, "schema_version": version})


def _buyer_event(name: str) -> type[DomainEvent]:
    return type(name, (BuyerAddressedEvent,), {"event_name": name})


ASSESSMENT_EVENTS: tuple[type[DomainEvent], ...] = (
    _factory_event("FactoryRegistered"),
    _factory_event("FactoryUpdated"),
    _factory_event("AssessmentScheduled"),
    _factory_event("AssessmentCompleted", 2),
    _factory_event("NonComplianceFound"),
    _factory_event("ZeroToleranceIssueFound"),
    _factory_event("FindingCorrected"),
    _factory_event("FactoryResponded"),
    _factory_event("FindingDisputed"),
)

REMEDIATION_EVENTS: tuple[type[DomainEvent], ...] = (
    _factory_event("ImprovementPlanUpdated"),
    _factory_event("RemediationVerified"),
    _factory_event("ImprovementItemOverdue"),
    _factory_event("ImprovementPlanPublished"),
    _factory_event("ImprovementPlanPublicationOverdue"),
    _factory_event("CommitteeUpdated"),
)


class SharingGranted(DomainEvent):
    factory_id: str
    buyer_id: str
    granted_at: datetime
    ends_on: date | None = None


class SharingRevoked(DomainEvent):
    factory_id: str
    buyer_id: str
    revoked_at: datetime


BUYER_SHARING_EVENTS: tuple[type[DomainEvent], ...] = (
    SharingGranted,
    SharingRevoked,
    _buyer_event("AccessRequested"),
    _buyer_event("AccessDeclined"),
    _buyer_event("AuditRelianceDeclared"),
    _buyer_event("AuditRelianceWithdrawn"),
)

UPSTREAM: dict[str, tuple[type[DomainEvent], ...]] = {
    "assessment": ASSESSMENT_EVENTS,
    "remediation": REMEDIATION_EVENTS,
    "buyer_sharing": BUYER_SHARING_EVENTS,
}

# Buyer sharing's events that concern one buyer's own relationship with a factory: they go to
# that buyer whether or not a grant is active (a revocation must reach the buyer it revokes).
BUYER_ADDRESSED = frozenset(
    {
        "SharingGranted",
        "SharingRevoked",
        "AccessRequested",
        "AccessDeclined",
        "AuditRelianceDeclared",
        "AuditRelianceWithdrawn",
    }
)

DELIVERABLE: dict[str, str] = {
    cls.event_name: service for service, classes in UPSTREAM.items() for cls in classes
}
"""Every event type a buyer may subscribe to, with the service that publishes it."""


def register_upstream(registry: EventRegistry) -> None:
    for service, classes in UPSTREAM.items():
        registry.register_all(*classes, service=service)

    @registry.upcaster("AssessmentCompleted", 1, service="assessment")
    def _same_routing(data: dict[str, Any]) -> dict[str, Any]:
        return data  # v1 and v2 name the factory alike; the body is delivered as published

"""Our own narrow copies of the upstream public events notifications reads: the deliverable ones
of the assessment, remediation, buyer sharing and advisory services (only what routing needs: the
factory, and the buyer for buyer sharing's events addressed to one buyer; the webhook body is the whole CloudEvents document as published, less the producer's
stream positions), buyer sharing's SharingGranted/SharingRevoked, which feed our grant read
model, and its ConsentWatermark, which says as of when that read model is complete.

Not every public event may reach a buyer (DESIGN.md, "Publication and consent rules"):
`AssessmentScheduled` is for the programme's own services (assessments are unannounced), so it is
neither consumed nor offered; `ConsentWatermark` is for notifications itself; and a plan's
`ImprovementPlanUpdated` reaches buyers only once the plan is published (`reaches_buyers`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

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


# AssessmentScheduled is left out on purpose: nothing tells a buyer an assessment is coming.
ASSESSMENT_EVENTS: tuple[type[DomainEvent], ...] = (
    _factory_event("FactoryRegistered"),
    _factory_event("FactoryUpdated"),
    _factory_event("AssessmentCompleted", 2),
    _factory_event("NonComplianceFound"),
    _factory_event("ZeroToleranceIssueFound"),
    _factory_event("FindingCorrected"),
    _factory_event("FactoryResponded"),
    _factory_event("FindingDisputed"),
)


class PlanProgress(BaseModel):
    """Of the plan's progress, what the publication gate reads."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    published: bool = False


class ImprovementPlanUpdated(FactoryEvent):
    """A change of a factory's plan; its content reaches buyers only once the plan is published
    (its progress says so). Without a progress it counts as unpublished."""

    progress: PlanProgress | None = None

    @property
    def published(self) -> bool:
        return self.progress is not None and self.progress.published


REMEDIATION_EVENTS: tuple[type[DomainEvent], ...] = (
    ImprovementPlanUpdated,
    _factory_event("RemediationVerified"),
    _factory_event("ImprovementItemOverdue"),
    _factory_event("ImprovementPlanPublished"),
    _factory_event("ImprovementPlanPublicationOverdue"),
    _factory_event("CommitteeUpdated"),
)


# The advisory service's public events: each is about one factory (`factory_id`, also the
# CloudEvents subject) and carries counts only, never a participant or a visit's notes, so the
# whole document may reach a buyer the factory shares with (docs/advisory.md, "Events").
ADVISORY_EVENTS: tuple[type[DomainEvent], ...] = (
    _factory_event("TrainingSessionDelivered"),
    _factory_event("AdvisoryVisitCompleted"),
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


class ConsentWatermark(DomainEvent):
    """Every grant and revocation buyer sharing committed before `as_of` stands before this
    message on its stream (its relay publishes one after draining its outbox)."""

    as_of: datetime


DELIVERABLE_EVENTS: dict[str, tuple[type[DomainEvent], ...]] = {
    "assessment": ASSESSMENT_EVENTS,
    "remediation": REMEDIATION_EVENTS,
    "buyer_sharing": BUYER_SHARING_EVENTS,
    "advisory": ADVISORY_EVENTS,
}
"""The events a buyer may subscribe to, by producing service."""

UPSTREAM: dict[str, tuple[type[DomainEvent], ...]] = {
    **DELIVERABLE_EVENTS,
    "buyer_sharing": (*BUYER_SHARING_EVENTS, ConsentWatermark),
}
"""Every upstream event notifications decodes, by producing service."""

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
    cls.event_name: service for service, classes in DELIVERABLE_EVENTS.items() for cls in classes
}
"""Every event type a buyer may subscribe to, with the service that publishes it."""


def reaches_buyers(event: DomainEvent) -> bool:
    """The publication gate: a plan's change reaches buyers only once the plan is published
    (before that, its items are the factory's drafts); every other deliverable event does."""
    if isinstance(event, ImprovementPlanUpdated):
        return event.published
    return True


def register_upstream(registry: EventRegistry) -> None:
    for service, classes in UPSTREAM.items():
        registry.register_all(*classes, service=service)

    @registry.upcaster("AssessmentCompleted", 1, service="assessment")
    def _same_routing(data: dict[str, Any]) -> dict[str, Any]:
        return data  # v1 and v2 name the factory alike; the body is delivered as published

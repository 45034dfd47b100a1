"""The Buyer aggregate: a brand registered with the programme by an admin. Buyer users act for it
through the `buyer_id` claim of their token."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from libs.domain.errors import AlreadyExists


class BuyerRegistered(DomainEvent):
    buyer_id: str
    name: str
    country: str
    contact_name: str
    contact_email: str
    registered_by: str
    registered_at: datetime


BUYER_EVENTS: tuple[type[DomainEvent], ...] = (BuyerRegistered,)


@dataclass(frozen=True)
class Buyer:
    registered: bool = False
    name: str = ""
    country: str = ""


def evolve(buyer: Buyer, event: DomainEvent) -> Buyer:
    if isinstance(event, BuyerRegistered):
        return replace(buyer, registered=True, name=event.name, country=event.country)
    return buyer


BUYER = AggregateType(stream_type="Buyer", stream_prefix="buyer-", initial=Buyer(), evolve=evolve)


def register_buyer(
    buyer: Buyer,
    *,
    buyer_id: str,
    name: str,
    country: str,
    contact_name: str,
    contact_email: str,
    by: str,
    at: datetime,
) -> list[DomainEvent]:
    if buyer.registered:
        raise AlreadyExists(f"buyer {buyer_id} is already registered")
    return [
        BuyerRegistered(
            buyer_id=buyer_id,
            name=name,
            country=country,
            contact_name=contact_name,
            contact_email=contact_email,
            registered_by=by,
            registered_at=at,
        )
    ]

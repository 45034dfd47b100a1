"""The Factory aggregate: its registration details, events, folded state and rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from libs.domain.errors import Conflict
from libs.domain.types import SafeLine, SafeText
from services.assessment.ids import (
    COUNTRY_CODES,
    ISIC_PATTERN,
    normalise_os_id,
    validate_country,
    validate_isic,
)

# --- what a command says about a factory: validated when built (request body or update) --------


class Workforce(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    women: int = Field(ge=0, le=1_000_000)
    men: int = Field(ge=0, le=1_000_000)


class FactoryDetails(BaseModel):
    """What describes a factory, as a command gives it; validated wherever it is built. Never
    stored as such: the events carry its values without these rules (see Headcount)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: SafeLine = Field(min_length=1, max_length=200)
    country: str = Field(
        description="ISO 3166-1 alpha-2 code (any case)",
        examples=["KH"],
        pattern=r"^ *[A-Za-z]{2} *$",
        json_schema_extra={"enum": COUNTRY_CODES},
    )
    address: SafeText = Field(min_length=1, max_length=500)
    sector_isic: str = Field(
        description="ISIC Rev.4 division, group or class",
        examples=["1410"],
        pattern=ISIC_PATTERN,
    )
    workforce: Workforce
    os_id: str | None = Field(
        default=None,
        description="Open Supply Hub ID; hyphens and spaces are ignored. Its country must be "
        "the factory's.",
        examples=["KH2019257Q2JMGF"],
        max_length=40,
        pattern=r"^[A-Za-z0-9 -]*$",
    )

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return validate_country(value)

    @field_validator("sector_isic")
    @classmethod
    def _sector(cls, value: str) -> str:
        return validate_isic(value)

    @field_validator("os_id")
    @classmethod
    def _os_id(cls, value: str | None) -> str | None:
        return normalise_os_id(value) if value else None

    @model_validator(mode="after")
    def _os_id_matches_country(self) -> FactoryDetails:
        # An OS ID starts with the country the facility was registered in; a mismatch is a typo.
        if self.os_id is not None and self.os_id[:2] != self.country:
            raise ValueError(
                f"OS ID {self.os_id} is for country {self.os_id[:2]}, not {self.country}"
            )
        return self


# --- internal events: stored facts, so no request rules (they must decode whatever was stored) --


class Headcount(BaseModel):
    model_config = ConfigDict(frozen=True)

    women: int
    men: int


class FactoryRegistered(DomainEvent):
    factory_id: str
    name: str
    country: str
    address: str
    sector_isic: str
    workforce: Headcount
    os_id: str | None


class FactoryUpdated(DomainEvent):
    factory_id: str
    name: str
    country: str
    address: str
    sector_isic: str
    workforce: Headcount
    os_id: str | None


# --- state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Factory:
    factory_id: str
    name: str
    country: str
    address: str
    sector_isic: str
    workforce: Headcount
    os_id: str | None

    def details(self) -> dict[str, Any]:
        """The registration details, as FactoryDetails fields (for an update to merge into)."""
        return {
            "name": self.name,
            "country": self.country,
            "address": self.address,
            "sector_isic": self.sector_isic,
            "workforce": self.workforce.model_dump(),
            "os_id": self.os_id,
        }


def evolve(factory: Factory | None, event: DomainEvent) -> Factory | None:
    if isinstance(event, FactoryRegistered | FactoryUpdated):
        return Factory(
            factory_id=event.factory_id,
            name=event.name,
            country=event.country,
            address=event.address,
            sector_isic=event.sector_isic,
            workforce=event.workforce,
            os_id=event.os_id,
        )
    return factory


FACTORY: AggregateType[Factory | None] = AggregateType(
    stream_type="factory", stream_prefix="factory-", initial=None, evolve=evolve
)


# --- rules ------------------------------------------------------------------------------------


def register_factory(
    factory: Factory | None, factory_id: str, details: FactoryDetails
) -> list[DomainEvent]:
    """Register a new factory; its stream must not exist yet."""
    if factory is not None:
        raise Conflict(f"factory {factory_id} is already registered", factory_id=factory_id)
    return [FactoryRegistered(factory_id=factory_id, **details.model_dump())]


def update_factory(factory: Factory, details: FactoryDetails) -> list[DomainEvent]:
    """An update that changes nothing records nothing."""
    if details.model_dump() == factory.details():
        return []
    return [FactoryUpdated(factory_id=factory.factory_id, **details.model_dump())]

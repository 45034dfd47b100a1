"""Who asks, as the domain sees it: the caller's subject, role, factory and country programmes
(the routes build it from the verified token; the domain never sees the token). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from libs.domain.principal import staff_works_in

ADMIN = "admin"
ASSESSOR = "assessor"
TRAINER = "trainer"
FACTORY = "factory"


@dataclass(frozen=True)
class Actor:
    subject: str
    role: str
    factory_id: str | None = None
    # the staff member's country programmes (upper-case ISO codes); None: every country
    countries: frozenset[str] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def works_in(self, country: str | None) -> bool:
        """Programme staff act on factories of their own country programmes only (the rule of
        `libs.domain.principal`)."""
        return staff_works_in(self.role, self.countries, country)

    def sees(self, country: str | None, factory_ids: tuple[str, ...]) -> bool:
        """Whether a session or visit of these factories in this country is the caller's to see:
        staff of the country, or a user of one of the factories."""
        if self.role == FACTORY:
            return self.factory_id is not None and self.factory_id in factory_ids
        return self.works_in(country)


SYSTEM = Actor(subject="advisory", role=ADMIN)
"""The service itself (the course seeder, the reactions to upstream events)."""

"""Who is calling, as the domain sees it: the role, the tenant and the country programmes of a
verified caller (`libs.servicekit.auth` makes one from a token). Pure, so domain rules may take
a principal (a staff member's country check) without importing the web framework."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ASSESSOR = "assessor"
    TRAINER = "trainer"
    FACTORY = "factory"
    BUYER = "buyer"


STAFF_ROLES = frozenset({Role.ADMIN, Role.ASSESSOR, Role.TRAINER})
# The `countries` claim of the programme's headquarters: every country programme.
ALL_COUNTRIES = "*"
# Upper bound on a token's country list (a claim is attacker-sized input until verified).
MAX_COUNTRIES = 250


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a verified token's subject, role and tenant."""

    subject: str
    role: Role
    factory_id: str | None = None
    buyer_id: str | None = None
    # The token's `iss` claim: which identity provider vouched for this caller.
    issuer: str | None = None
    # The country programmes a staff member works for (ISO 3166-1 alpha-2, upper case); None is
    # every country: the headquarters' admins, and staff tokens without the claim in development.
    countries: frozenset[str] | None = None

    @property
    def is_staff(self) -> bool:
        """Programme staff: admins, assessors and trainers (each within their countries)."""
        return self.role in STAFF_ROLES

    @property
    def is_global(self) -> bool:
        """Staff of the headquarters: every country programme."""
        return self.is_staff and self.countries is None

    def works_in(self, country: str | None) -> bool:
        """Whether this staff member may act on a factory of `country` (a factory, a buyer or a
        staff member of another country programme may not; a factory of unknown country only
        for the headquarters)."""
        return staff_works_in(self.role, self.countries, country)


def staff_works_in(role: str, countries: frozenset[str] | None, country: str | None) -> bool:
    """The country-programme rule: staff (admin, assessor, trainer) act on factories of their
    countries (`None`: every country, the headquarters); nobody else does as staff."""
    if role not in STAFF_ROLES:
        return False
    if countries is None:
        return True
    return country is not None and country.upper() in countries

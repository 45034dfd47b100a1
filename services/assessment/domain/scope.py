"""The country programmes a staff member acts in (the token's `countries` claim), as every staff
command carries them: a command acts only on factories and assessments of those countries, and
the repository's authorize step decides on the loaded aggregate's own country. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from services.assessment.errors import OutsideCountryProgramme


@dataclass(frozen=True, slots=True)
class CountryScope:
    """Upper-case ISO 3166-1 codes; None is every country (the headquarters' admins)."""

    countries: frozenset[str] | None

    def covers(self, country: str | None) -> bool:
        if self.countries is None:
            return True
        return country is not None and country.upper() in self.countries

    def require(self, country: str) -> None:
        """For what does not exist yet (a factory to register, a factory's new country): a 403,
        since there is nothing to hide."""
        if not self.covers(country):
            raise OutsideCountryProgramme(country)


EVERY_COUNTRY = CountryScope(None)
"""The headquarters' scope (and the service's own, where it acts for nobody)."""

NO_COUNTRY = CountryScope(frozenset())
"""The scope of a caller who is not programme staff: nothing."""

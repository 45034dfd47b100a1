"""Reference data a bundle is written against, read from the services' own data (no service runs):
the compliance catalogue in force on a day (the assessment service's catalogue files) and the
courses' training days (the advisory service's seeded course catalogue)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from services.advisory.domain.catalogue import SEEDED_COURSES
from services.assessment.compliance_catalogue import CatalogueLibrary, load_library


@dataclass(frozen=True)
class QuestionRef:
    """A catalogue question as the generator needs it."""

    id: str
    cluster: str
    critical: bool
    zero_tolerance: bool


@dataclass(frozen=True)
class CourseRef:
    """A seeded course: its code, training days, audience and languages."""

    code: str
    training_days: int
    audience: tuple[str, ...]
    languages: tuple[str, ...]


def cluster_of(question_id: str) -> str:
    """The cluster of a question id: its prefix before the first `-` (`OSH-MGT-01` -> `OSH`)."""
    return question_id.split("-", 1)[0]


class Catalogues:
    """The catalogue versions of one country, by the day they are in force."""

    def __init__(self, country: str, library: CatalogueLibrary | None = None) -> None:
        self.country = country
        self.library = library or load_library()
        self._questions: dict[str, tuple[QuestionRef, ...]] = {}

    def version_on(self, day: date) -> str:
        """The version in force on `day` (the assessment service's rule, as it imports an
        assessment without a version)."""
        return self.library.version_in_force(day)

    def questions(self, version: str) -> tuple[QuestionRef, ...]:
        """Every question of `version` for the country (its variant, else the base catalogue)."""
        if version not in self._questions:
            catalogue = self.library.resolve(version, self.country)
            if catalogue is None:
                raise KeyError(f"no compliance catalogue {version}")
            self._questions[version] = tuple(
                QuestionRef(
                    entry.question.id,
                    entry.cluster.id,
                    entry.question.critical,
                    entry.question.zero_tolerance,
                )
                for entry in catalogue.questions()
            )
        return self._questions[version]


@cache
def courses() -> dict[str, CourseRef]:
    """The advisory service's seeded courses, by code."""
    return {
        code: CourseRef(
            code,
            details.duration_days,
            tuple(str(role) for role in details.audience_roles),
            tuple(details.languages),
        )
        for code, details in SEEDED_COURSES.items()
    }

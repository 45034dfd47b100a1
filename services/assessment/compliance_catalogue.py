"""The compliance catalogue: versioned data files (a base catalogue plus country variants) loaded and
validated at start-up, and resolved into the question set an assessment pins; each version is in
force from its `effective_from` day until the next one's (an imported assessment without a version
is made against the one in force on its day). Pure: no I/O but loading."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CATALOGUE_DIRECTORY = Path(__file__).parent / "catalogue"
WORKING_CONDITIONS = "working_conditions"


class CatalogueError(Exception):
    """A catalogue data file is inconsistent; the service refuses to start with it."""


class NoCatalogueInForce(LookupError):
    """No catalogue version was in force on a day (it is before the first one's)."""

    def __init__(self, day: date, first: date) -> None:
        super().__init__(f"no compliance catalogue was in force on {day} (the first from {first})")
        self.day, self.first = day, first


class _FileModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Question(_FileModel):
    id: str = Field(pattern=r"^[A-Z]{2,3}-[A-Z]{3}-[A-Z0-9]{2,6}$")
    text: str = Field(min_length=10)
    critical: bool
    zero_tolerance: bool


class CompliancePoint(_FileModel):
    id: str = Field(pattern=r"^[A-Z]{2,3}-[A-Z]{3}$")
    name: str = Field(min_length=1)
    questions: tuple[Question, ...] = Field(min_length=1)


class Cluster(_FileModel):
    id: str = Field(pattern=r"^[A-Z]{2,3}$")
    name: str = Field(min_length=1)
    category: Literal["core_labour_standards", "working_conditions"]
    points: tuple[CompliancePoint, ...] = Field(min_length=1)


class BaseCatalogueFile(_FileModel):
    version: str = Field(pattern=r"^\d{4}\.\d+$")
    effective_from: date = Field(description="The first day the version is in force.")
    description: str = ""
    clusters: tuple[Cluster, ...] = Field(min_length=1)


class AddedQuestion(_FileModel):
    point_id: str
    question: Question


class CountryVariantFile(_FileModel):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    description: str = ""
    replace: tuple[Question, ...] = ()
    add: tuple[AddedQuestion, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuestionInContext:
    """A question with the point and cluster it belongs to: what a finding needs to know."""

    question: Question
    point: CompliancePoint
    cluster: Cluster


@dataclass(frozen=True)
class Catalogue:
    """One resolved catalogue: a version for a country (`country` None: the base catalogue)."""

    version: str
    country: str | None
    clusters: tuple[Cluster, ...]
    description: str = ""

    @cached_property
    def _index(self) -> dict[str, QuestionInContext]:
        return {
            question.id: QuestionInContext(question, point, cluster)
            for cluster in self.clusters
            for point in cluster.points
            for question in point.questions
        }

    def question(self, question_id: str) -> QuestionInContext | None:
        return self._index.get(question_id)

    def questions(self) -> Iterator[QuestionInContext]:
        return iter(self._index.values())

    @property
    def critical_question_ids(self) -> tuple[str, ...]:
        return tuple(entry.question.id for entry in self.questions() if entry.question.critical)


def validate_catalogue(catalogue: Catalogue) -> None:
    """Unique ids, and each question's id names its point and each point's id its cluster."""
    seen: set[str] = set()
    for cluster in catalogue.clusters:
        for identifier in [cluster.id] + [point.id for point in cluster.points]:
            if identifier in seen:
                raise CatalogueError(
                    f"{catalogue.version}/{catalogue.country}: duplicate id {identifier}"
                )
            seen.add(identifier)
        for point in cluster.points:
            if not point.id.startswith(cluster.id + "-"):
                raise CatalogueError(f"point {point.id} is not in cluster {cluster.id}")
            for question in point.questions:
                if question.id in seen:
                    raise CatalogueError(
                        f"{catalogue.version}/{catalogue.country}: duplicate id {question.id}"
                    )
                seen.add(question.id)
                if not question.id.startswith(point.id + "-"):
                    raise CatalogueError(f"question {question.id} is not in point {point.id}")
                if question.zero_tolerance and not question.critical:
                    raise CatalogueError(f"zero-tolerance question {question.id} must be critical")


def apply_variant(base: BaseCatalogueFile, variant: CountryVariantFile) -> Catalogue:
    """The base catalogue with a country's replacements, additions and removals.

    Variants may only touch the working-conditions clusters: the core labour standards are the same
    everywhere, while wages, contracts, safety and working time follow national law.
    """
    replacements = {question.id: question for question in variant.replace}
    removals = set(variant.remove)
    additions: dict[str, list[Question]] = {}
    for added in variant.add:
        additions.setdefault(added.point_id, []).append(added.question)
    unmatched = set(replacements) | removals | set(additions)
    clusters: list[Cluster] = []
    for cluster in base.clusters:
        points: list[CompliancePoint] = []
        for point in cluster.points:
            touched = point.id in additions or any(
                question.id in replacements or question.id in removals
                for question in point.questions
            )
            if touched and cluster.category != WORKING_CONDITIONS:
                raise CatalogueError(
                    f"variant {variant.country} changes {point.id}, a core labour standard"
                )
            questions = [
                replacements.get(question.id, question)
                for question in point.questions
                if question.id not in removals
            ]
            questions.extend(additions.get(point.id, []))
            unmatched -= {point.id} | {question.id for question in point.questions}
            if not questions:
                raise CatalogueError(
                    f"variant {variant.country} leaves {point.id} without questions"
                )
            points.append(point.model_copy(update={"questions": tuple(questions)}))
        clusters.append(cluster.model_copy(update={"points": tuple(points)}))
    if unmatched:
        raise CatalogueError(
            f"variant {variant.country} refers to unknown ids: {', '.join(sorted(unmatched))}"
        )
    return Catalogue(base.version, variant.country, tuple(clusters), variant.description)


@dataclass
class CatalogueLibrary:
    """Every catalogue version and its country variants, resolved and validated once."""

    catalogues: dict[tuple[str, str | None], Catalogue] = field(default_factory=dict)
    # version -> the first day it is in force
    effective: dict[str, date] = field(default_factory=dict)

    @property
    def versions(self) -> list[str]:
        return sorted({version for version, _ in self.catalogues}, key=_version_key)

    def effective_from(self, version: str) -> date | None:
        """The first day `version` is in force (None: no such version)."""
        return self.effective.get(version)

    def version_in_force(self, day: date) -> str:
        """The version in force on `day`: the latest whose `effective_from` is on or before it.
        Raises NoCatalogueInForce for a day before the first version's. (The live API pins the
        latest version, `latest_version`, whatever its day.)"""
        in_force = [version for version in self.versions if self.effective[version] <= day]
        if not in_force:
            raise NoCatalogueInForce(day, self.effective[self.versions[0]])
        return in_force[-1]

    @property
    def latest_version(self) -> str:
        return self.versions[-1]

    def countries(self, version: str) -> list[str]:
        return sorted(country for v, country in self.catalogues if v == version and country)

    def resolve(self, version: str, country: str | None) -> Catalogue | None:
        """The variant for `country` if that version has one, else the base catalogue."""
        return self.catalogues.get((version, country)) or self.catalogues.get((version, None))

    def exact(self, version: str, country: str | None) -> Catalogue | None:
        return self.catalogues.get((version, country))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def load_library(directory: Path = DEFAULT_CATALOGUE_DIRECTORY) -> CatalogueLibrary:
    """Read `<directory>/<version>/base.json` and `<country>.json` variants; raise CatalogueError."""
    library = CatalogueLibrary()
    version_directories = sorted(path for path in directory.iterdir() if path.is_dir())
    if not version_directories:
        raise CatalogueError(f"no catalogue versions under {directory}")
    for version_directory in version_directories:
        try:
            base = BaseCatalogueFile.model_validate(
                json.loads((version_directory / "base.json").read_text(encoding="utf-8"))
            )
            if base.version != version_directory.name:
                raise CatalogueError(f"{version_directory}: file says version {base.version}")
            catalogue = Catalogue(base.version, None, base.clusters, base.description)
            validate_catalogue(catalogue)
            library.catalogues[(base.version, None)] = catalogue
            library.effective[base.version] = base.effective_from
            for variant_path in sorted(version_directory.glob("*.json")):
                if variant_path.name == "base.json":
                    continue
                variant = CountryVariantFile.model_validate(
                    json.loads(variant_path.read_text(encoding="utf-8"))
                )
                if variant_path.stem.upper() != variant.country:
                    raise CatalogueError(f"{variant_path}: file says country {variant.country}")
                resolved = apply_variant(base, variant)
                validate_catalogue(resolved)
                library.catalogues[(base.version, variant.country)] = resolved
        except (ValueError, OSError) as error:  # pydantic's ValidationError is a ValueError
            raise CatalogueError(f"{version_directory}: {error}") from error
    _check_effective_dates(library)
    return library


def _check_effective_dates(library: CatalogueLibrary) -> None:
    """A later version takes effect strictly later: which one is in force is never ambiguous."""
    for earlier, later in pairwise(library.versions):
        if library.effective[later] <= library.effective[earlier]:
            raise CatalogueError(
                f"catalogue {later} takes effect on {library.effective[later]}, not after "
                f"{earlier} ({library.effective[earlier]})"
            )

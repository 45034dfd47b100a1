"""The Course aggregate: one course of the training catalogue, versioned (each revision is a new
version; sessions keep the version they were scheduled with). Admins define, revise and retire."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from libs.domain.errors import AlreadyExists
from libs.domain.types import SafeLine, SafeText
from services.advisory.domain.vocabulary import Cluster, LanguageCode, ParticipantRole
from services.advisory.errors import RetiredCourse
from services.advisory.ids import COURSE_STREAM_PREFIX

MAX_DURATION_DAYS = 30


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise ValueError("values must not repeat")
    return values


class CourseDetails(BaseModel):
    """What describes a course, as a command gives it (validated wherever it is built)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    title: SafeLine = Field(min_length=1, max_length=200)
    description: SafeText = Field("", max_length=2000)
    audience_roles: tuple[ParticipantRole, ...] = Field(min_length=1, max_length=4)
    duration_days: int = Field(ge=1, le=MAX_DURATION_DAYS, description="Training days.")
    languages: tuple[LanguageCode, ...] = Field(
        min_length=1, max_length=20, description="ISO 639-1 codes it is given in."
    )
    topics: tuple[Cluster, ...] = Field(
        (), max_length=8, description="The compliance clusters the course helps with."
    )

    _distinct = field_validator("audience_roles", "languages", "topics")(_unique)


# --- internal events --------------------------------------------------------------------------


class CourseDefined(DomainEvent):
    code: str
    title: str
    description: str
    audience_roles: tuple[str, ...]
    duration_days: int
    languages: tuple[str, ...]
    topics: tuple[str, ...]


class CourseRevised(DomainEvent):
    """A new version of the course: every detail as it now is."""

    code: str
    course_version: int
    title: str
    description: str
    audience_roles: tuple[str, ...]
    duration_days: int
    languages: tuple[str, ...]
    topics: tuple[str, ...]


class CourseRetired(DomainEvent):
    code: str


# --- state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Course:
    code: str
    course_version: int
    title: str
    description: str
    audience_roles: tuple[str, ...]
    duration_days: int
    languages: tuple[str, ...]
    topics: tuple[str, ...]
    retired: bool = False

    def details(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "audience_roles": self.audience_roles,
            "duration_days": self.duration_days,
            "languages": self.languages,
            "topics": self.topics,
        }


def evolve(course: Course | None, event: DomainEvent) -> Course | None:
    if isinstance(event, CourseDefined):
        return Course(event.code, 1, **_fields(event))
    if isinstance(event, CourseRevised) and course is not None:
        return Course(event.code, event.course_version, **_fields(event))
    if isinstance(event, CourseRetired) and course is not None:
        return replace(course, retired=True)
    return course


def _fields(event: CourseDefined | CourseRevised) -> dict[str, Any]:
    return {
        "title": event.title,
        "description": event.description,
        "audience_roles": tuple(event.audience_roles),
        "duration_days": event.duration_days,
        "languages": tuple(event.languages),
        "topics": tuple(event.topics),
    }


COURSE: AggregateType[Course | None] = AggregateType(
    stream_type="course", stream_prefix=COURSE_STREAM_PREFIX, initial=None, evolve=evolve
)


# --- rules ------------------------------------------------------------------------------------


def _details(details: CourseDetails) -> dict[str, Any]:
    return {
        "title": details.title,
        "description": details.description,
        "audience_roles": tuple(str(role) for role in details.audience_roles),
        "duration_days": details.duration_days,
        "languages": details.languages,
        "topics": tuple(str(topic) for topic in details.topics),
    }


def define_course(
    course: Course | None, code: str, details: CourseDetails, *, if_absent: bool = False
) -> list[DomainEvent]:
    """A new course at version 1. `if_absent` (the seeder): a course already defined is left as
    it is, whatever admins made of it since."""
    if course is not None:
        if if_absent:
            return []
        raise AlreadyExists(f"course {code} exists", code=code)
    return [CourseDefined(code=code, **_details(details))]


def revise_course(course: Course, details: CourseDetails) -> list[DomainEvent]:
    """A new version; a revision that changes nothing records nothing."""
    if course.retired:
        raise RetiredCourse(f"course {course.code} was retired", code=course.code)
    new = _details(details)
    if new == course.details():
        return []
    return [CourseRevised(code=course.code, course_version=course.course_version + 1, **new)]


def retire_course(course: Course) -> list[DomainEvent]:
    """No new sessions, surveys or revisions; sessions already scheduled keep it."""
    if course.retired:
        return []
    return [CourseRetired(code=course.code)]

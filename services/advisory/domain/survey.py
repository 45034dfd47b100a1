"""The Survey aggregate: an outcome-survey instrument of Likert items attached to a course,
versioned (a revision replaces the items; responses keep the version they answered). The scale
is fixed when the instrument is published, so every version's scores compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from libs.domain.errors import AlreadyExists
from libs.domain.types import SafeLine
from services.advisory.domain.course import Course
from services.advisory.domain.vocabulary import ItemId
from services.advisory.errors import InvalidAnswers, RetiredCourse, UnknownCourse
from services.advisory.ids import SURVEY_STREAM_PREFIX

MAX_ITEMS = 50


class LikertItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    item_id: ItemId
    text: SafeLine = Field(min_length=1, max_length=300)


class SurveyDefinition(BaseModel):
    """A version's title and items, as a command gives them."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    title: SafeLine = Field(min_length=1, max_length=200)
    items: tuple[LikertItem, ...] = Field(min_length=1, max_length=MAX_ITEMS)

    @field_validator("items")
    @classmethod
    def _distinct_ids(cls, items: tuple[LikertItem, ...]) -> tuple[LikertItem, ...]:
        if len({item.item_id for item in items}) != len(items):
            raise ValueError("item ids must not repeat")
        return items


class SurveyItem(BaseModel):
    """An item as stored (no request rules: events decode whatever was stored)."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    text: str


class SurveyPublished(DomainEvent):
    survey_id: str
    course_code: str
    title: str
    scale_points: int
    items: tuple[SurveyItem, ...]


class SurveyRevised(DomainEvent):
    survey_id: str
    survey_version: int
    title: str
    items: tuple[SurveyItem, ...]


@dataclass(frozen=True)
class Survey:
    survey_id: str
    course_code: str
    scale_points: int
    survey_version: int
    title: str
    items: tuple[SurveyItem, ...]
    # every version's item ids: a paper form of an older version may be entered late
    versions: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


def evolve(survey: Survey | None, event: DomainEvent) -> Survey | None:
    if isinstance(event, SurveyPublished):
        items = tuple(event.items)
        return Survey(
            survey_id=event.survey_id,
            course_code=event.course_code,
            scale_points=event.scale_points,
            survey_version=1,
            title=event.title,
            items=items,
            versions={1: tuple(item.item_id for item in items)},
        )
    if isinstance(event, SurveyRevised) and survey is not None:
        items = tuple(event.items)
        versions = {**survey.versions, event.survey_version: tuple(i.item_id for i in items)}
        return Survey(
            survey_id=survey.survey_id,
            course_code=survey.course_code,
            scale_points=survey.scale_points,
            survey_version=event.survey_version,
            title=event.title,
            items=items,
            versions=versions,
        )
    return survey


SURVEY: AggregateType[Survey | None] = AggregateType(
    stream_type="survey", stream_prefix=SURVEY_STREAM_PREFIX, initial=None, evolve=evolve
)


def _items(definition: SurveyDefinition) -> tuple[SurveyItem, ...]:
    return tuple(SurveyItem(item_id=item.item_id, text=item.text) for item in definition.items)


def publish_survey(
    survey: Survey | None,
    survey_id: str,
    course: Course | None,
    course_code: str,
    scale_points: int,
    definition: SurveyDefinition,
) -> list[DomainEvent]:
    if survey is not None:
        raise AlreadyExists(f"survey {survey_id} exists", survey_id=survey_id)
    if course is None:
        raise UnknownCourse(f"there is no course {course_code}", course_code=course_code)
    if course.retired:
        raise RetiredCourse(f"course {course.code} was retired", code=course.code)
    return [
        SurveyPublished(
            survey_id=survey_id,
            course_code=course.code,
            title=definition.title,
            scale_points=scale_points,
            items=_items(definition),
        )
    ]


def revise_survey(survey: Survey, definition: SurveyDefinition) -> list[DomainEvent]:
    """A new version of the items; one that changes nothing records nothing."""
    items = _items(definition)
    if items == survey.items and definition.title == survey.title:
        return []
    return [
        SurveyRevised(
            survey_id=survey.survey_id,
            survey_version=survey.survey_version + 1,
            title=definition.title,
            items=items,
        )
    ]


def check_answers(survey: Survey, version: int, answers: Mapping[str, int]) -> tuple[int, int]:
    """A response must answer every item of the version it was taken on, each on the scale; its
    score is (the sum of the answers, the number of items)."""
    item_ids = survey.versions.get(version)
    if item_ids is None:
        raise InvalidAnswers(
            f"survey {survey.survey_id} has no version {version}", survey_version=version
        )
    if set(answers) != set(item_ids):
        missing = sorted(set(item_ids) - set(answers))
        unknown = sorted(set(answers) - set(item_ids))
        raise InvalidAnswers(
            "a response answers every item of its version, and only those",
            missing_items=missing,
            unknown_items=unknown,
        )
    off_scale = sorted(
        key for key, value in answers.items() if not 1 <= value <= survey.scale_points
    )
    if off_scale:
        raise InvalidAnswers(
            f"answers are between 1 and {survey.scale_points}", off_scale_items=off_scale
        )
    return sum(answers.values()), len(item_ids)


def dump(survey: Survey) -> dict[str, Any]:
    """For tests and rows: the instrument's current version as plain data."""
    return {
        "survey_id": survey.survey_id,
        "course_code": survey.course_code,
        "scale_points": survey.scale_points,
        "survey_version": survey.survey_version,
        "title": survey.title,
        "items": [item.model_dump() for item in survey.items],
    }

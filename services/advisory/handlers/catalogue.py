"""Command handlers of the catalogue: courses and the survey instruments attached to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from libs.domain.aggregate import Change, Loaded
from libs.domain.envelope import DomainEvent
from services.advisory.commands import (
    DefineCourse,
    PublishSurvey,
    RetireCourse,
    ReviseCourse,
    ReviseSurvey,
)
from services.advisory.domain import course as courses
from services.advisory.domain import survey as surveys
from services.advisory.domain.course import Course
from services.advisory.domain.survey import Survey
from services.advisory.errors import NoSuchCourse, NoSuchSurvey
from services.advisory.handlers.dependencies import Dependencies

# a seeder in each replica may define the same course at once: decide again on the new state
CONFLICT_RETRIES = 3


def _course_exists(code: str) -> Any:
    def authorize(loaded: Loaded[Course | None]) -> None:
        if loaded.state is None:
            raise NoSuchCourse(f"course {code} does not exist")

    return authorize


def _survey_exists(survey_id: str) -> Any:
    def authorize(loaded: Loaded[Survey | None]) -> None:
        if loaded.state is None:
            raise NoSuchSurvey(f"survey {survey_id} does not exist")

    return authorize


async def define_course(command: DefineCourse, deps: Dependencies) -> Change[Course | None]:
    return await deps.courses.execute(
        command.code,
        lambda course: courses.define_course(
            course, command.code, command.details, if_absent=command.if_absent
        ),
        conflict_retries=CONFLICT_RETRIES if command.if_absent else 0,
        answer=deps.answer("course", command.code),
    )


async def revise_course(command: ReviseCourse, deps: Dependencies) -> Change[Course | None]:
    def decide(course: Course | None) -> Sequence[DomainEvent]:
        assert course is not None
        return courses.revise_course(course, command.details)

    return await deps.courses.execute(
        command.code,
        decide,
        expected_version=command.expected_version,
        authorize=_course_exists(command.code),
        answer=deps.answer("course", command.code),
    )


async def retire_course(command: RetireCourse, deps: Dependencies) -> Change[Course | None]:
    def decide(course: Course | None) -> Sequence[DomainEvent]:
        assert course is not None
        return courses.retire_course(course)

    return await deps.courses.execute(
        command.code,
        decide,
        expected_version=command.expected_version,
        authorize=_course_exists(command.code),
        answer=deps.answer("course", command.code),
    )


async def publish_survey(command: PublishSurvey, deps: Dependencies) -> Change[Survey | None]:
    """The course is read in the same unit of work as the survey's append."""
    async with deps.store.unit_of_work(authorize_first=True) as unit:
        course = (await deps.courses.load(unit, command.course_code)).state
        return await deps.surveys.execute(
            command.survey_id,
            lambda survey: surveys.publish_survey(
                survey,
                command.survey_id,
                course,
                command.course_code,
                command.scale_points,
                command.definition,
            ),
            unit=unit,
            answer=deps.answer("survey", command.survey_id),
        )


async def revise_survey(command: ReviseSurvey, deps: Dependencies) -> Change[Survey | None]:
    def decide(survey: Survey | None) -> Sequence[DomainEvent]:
        assert survey is not None
        return surveys.revise_survey(survey, command.definition)

    return await deps.surveys.execute(
        command.survey_id,
        decide,
        expected_version=command.expected_version,
        authorize=_survey_exists(command.survey_id),
        answer=deps.answer("survey", command.survey_id),
    )

"""The catalogue's rules: courses (define, revise as a new version, retire) and survey
instruments (publish on a live course, revise, answers checked against a version), as given
events / when / then. No I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.domain.errors import AlreadyExists
from services.advisory.domain.catalogue import SEEDED_COURSES
from services.advisory.domain.course import (
    COURSE,
    CourseDefined,
    CourseDetails,
    CourseRetired,
    CourseRevised,
    define_course,
    retire_course,
    revise_course,
)
from services.advisory.domain.survey import (
    SURVEY,
    SurveyPublished,
    SurveyRevised,
    check_answers,
    publish_survey,
    revise_survey,
)
from services.advisory.errors import InvalidAnswers, RetiredCourse, UnknownCourse
from services.advisory.tests.unit.given import course, definition, survey

SST = SEEDED_COURSES["SST"]


class TestDefineCourse:
    def test_defines_version_one_with_the_details(self) -> None:
        events = define_course(None, "SST", SST)
        assert len(events) == 1 and isinstance(events[0], CourseDefined)
        state = COURSE.fold(events)
        assert state is not None
        assert (state.course_version, state.duration_days, state.audience_roles) == (
            1,
            4,
            ("supervisor",),
        )

    def test_refuses_a_code_that_exists(self) -> None:
        with pytest.raises(AlreadyExists):
            define_course(course(), "SST", SST)

    def test_the_seeder_leaves_an_existing_course_as_it_is(self) -> None:
        assert define_course(course(), "SST", SST, if_absent=True) == []

    def test_the_request_rules_refuse_repeats_and_unknown_clusters(self) -> None:
        details = SST.model_dump()
        with pytest.raises(ValidationError):
            CourseDetails.model_validate({**details, "languages": ["km", "km"]})
        with pytest.raises(ValidationError):
            CourseDetails.model_validate({**details, "topics": ["XYZ"]})
        with pytest.raises(ValidationError):
            CourseDetails.model_validate({**details, "duration_days": 0})

    def test_every_seeded_course_is_valid_and_the_sst_lasts_four_days(self) -> None:
        assert set(SEEDED_COURSES) == {"SST", "HR-INTRO", "NEGOTIATION", "WRR", "OSH", "PICC"}
        assert SEEDED_COURSES["SST"].duration_days == 4


class TestReviseCourse:
    def test_a_revision_is_the_next_version(self) -> None:
        details = SST.model_copy(update={"duration_days": 5})
        events = revise_course(course(), details)
        assert isinstance(events[0], CourseRevised) and events[0].course_version == 2

    def test_the_same_details_record_nothing(self) -> None:
        assert revise_course(course(), SST) == []

    def test_a_retired_course_is_not_revised(self) -> None:
        retired = COURSE.fold(retire_course(course()), course())
        assert retired is not None and retired.retired
        with pytest.raises(RetiredCourse):
            revise_course(retired, SST.model_copy(update={"duration_days": 5}))

    def test_retiring_twice_records_once(self) -> None:
        retired = COURSE.fold(retire_course(course()), course())
        assert retired is not None
        assert retire_course(course()) == [CourseRetired(code="SST")]
        assert retire_course(retired) == []


class TestPublishSurvey:
    def test_publishes_version_one_on_the_course(self) -> None:
        events = publish_survey(None, "s-1", course(), "SST", 5, definition("talk"))
        assert isinstance(events[0], SurveyPublished) and events[0].course_code == "SST"

    def test_refuses_an_unknown_or_retired_course(self) -> None:
        with pytest.raises(UnknownCourse):
            publish_survey(None, "s-1", None, "XYZ", 5, definition("talk"))
        retired = COURSE.fold(retire_course(course()), course())
        with pytest.raises(RetiredCourse):
            publish_survey(None, "s-1", retired, "SST", 5, definition("talk"))

    def test_refuses_an_existing_id_and_repeated_items(self) -> None:
        with pytest.raises(AlreadyExists):
            publish_survey(survey(), "s-1", course(), "SST", 5, definition("talk"))
        with pytest.raises(ValidationError):
            definition("talk", "talk")


class TestReviseSurvey:
    def test_a_revision_is_the_next_version_and_older_versions_stay_answerable(self) -> None:
        events = revise_survey(survey(), definition("talk", "trust", "pride"))
        assert isinstance(events[0], SurveyRevised) and events[0].survey_version == 2
        revised = SURVEY.fold(events, survey())
        assert revised is not None
        assert check_answers(revised, 1, {"talk": 4, "trust": 2}) == (6, 2)
        assert check_answers(revised, 2, {"talk": 4, "trust": 2, "pride": 3}) == (9, 3)

    def test_the_same_items_record_nothing(self) -> None:
        assert revise_survey(survey(), definition("talk", "trust")) == []


class TestCheckAnswers:
    @pytest.mark.parametrize(
        ("version", "answers"),
        [
            (2, {"talk": 1, "trust": 1}),  # no such version
            (1, {"talk": 1}),  # an item unanswered
            (1, {"talk": 1, "trust": 1, "pride": 1}),  # an item of no version
            (1, {"talk": 0, "trust": 1}),  # off the scale
            (1, {"talk": 6, "trust": 1}),
        ],
    )
    def test_refuses_answers_that_do_not_fit_the_version(
        self, version: int, answers: dict[str, int]
    ) -> None:
        with pytest.raises(InvalidAnswers):
            check_answers(survey(), version, answers)

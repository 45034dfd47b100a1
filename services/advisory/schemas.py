"""Request and response models of the advisory API (XCreate, XUpdate, XPublic, XPage). The
request rules live here and on the domain's request types (CourseDetails, SurveyDefinition,
FactoryPart, AttendeeLine, ResponseLine), never on events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.domain.types import PlausibleDate, ResourceId, SafeText
from libs.servicekit.http import Page
from services.advisory.domain.course import CourseDetails
from services.advisory.domain.session_events import (
    MAX_CAPACITY,
    MAX_FACTORIES,
    MAX_PLAN_ITEMS,
    AttendeeLine,
    FactoryPart,
    ResponseLine,
)
from services.advisory.domain.survey import SurveyDefinition
from services.advisory.domain.vocabulary import CourseCode, LanguageCode, VisitPurpose

MAX_SHEET_LINES = MAX_CAPACITY
Reason = Annotated[SafeText, Field(min_length=1, max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- courses and surveys ------------------------------------------------------------------------


class CourseCreate(CourseDetails):
    code: CourseCode = Field(description="The course's code, e.g. `SST`.", examples=["SST"])


class CoursePublic(BaseModel):
    code: str
    course_version: int = Field(description="The catalogue version: 1, then one per revision.")
    title: str
    description: str
    audience_roles: list[str]
    duration_days: int
    languages: list[str]
    topics: list[str]
    retired: bool
    version: int = Field(description="The resource's version (its ETag).")
    updated_at: datetime


CoursePage = Page[CoursePublic]


class SurveyCreate(SurveyDefinition):
    course_code: CourseCode
    scale_points: int = Field(
        5, ge=3, le=10, description="The Likert scale: answers 1 to this; fixed for every version."
    )


class SurveyItemPublic(BaseModel):
    item_id: str
    text: str


class SurveyPublic(BaseModel):
    survey_id: str
    course_code: str
    survey_version: int
    title: str
    scale_points: int
    items: list[SurveyItemPublic]
    version: int
    updated_at: datetime


SurveyPage = Page[SurveyPublic]


class SurveyResultPublic(BaseModel):
    """A mean change of score (post minus pre, in scale points) with its 95% t interval; withheld
    (null) below the minimum count of pairs."""

    pairs: int
    suppressed: bool
    mean_change: float | None
    ci95_low: float | None
    ci95_high: float | None


class SurveyResultRow(SurveyResultPublic):
    course_code: str
    survey_id: str
    country: str
    year: int


class SurveyResults(BaseModel):
    min_pairs: int
    results: list[SurveyResultRow]


# --- training sessions --------------------------------------------------------------------------


class SessionCreate(_Body):
    course_code: CourseCode
    factories: tuple[FactoryPart, ...] = Field(min_length=1, max_length=MAX_FACTORIES)
    open_session: bool = Field(False, description="An open session may gather several factories.")
    trainer: ResourceId | None = Field(
        None, description="The trainer's subject; a trainer schedules their own sessions."
    )
    start_date: PlausibleDate
    end_date: PlausibleDate
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    language: LanguageCode
    survey_id: ResourceId | None = Field(None, description="The course's outcome survey, if any.")

    @model_validator(mode="after")
    def _distinct_factories(self) -> SessionCreate:
        if len({part.factory_id for part in self.factories}) != len(self.factories):
            raise ValueError("a factory takes part once")
        return self


class SessionUpdate(_Body):
    """Only the fields sent change."""

    trainer: ResourceId | None = None
    start_date: PlausibleDate | None = None
    end_date: PlausibleDate | None = None
    capacity: int | None = Field(None, ge=1, le=MAX_CAPACITY)
    language: LanguageCode | None = None


class SessionFactoryPublic(BaseModel):
    factory_id: str
    plan_item_ids: list[str]
    participants: int
    completions: int


class SessionPublic(BaseModel):
    session_id: str
    course_code: str
    course_version: int
    course_title: str
    training_days: int
    country: str
    open_session: bool
    factories: list[SessionFactoryPublic] = Field(
        description="The factories taking part (a factory user sees its own only)."
    )
    trainer: str
    start_date: date
    end_date: date
    capacity: int
    language: str
    survey_id: str | None
    status: str
    participants: int
    completions: int = Field(description="Participants who attended every training day.")
    delivered_on: date | None
    cancel_reason: str | None
    version: int
    updated_at: datetime


SessionPage = Page[SessionPublic]


class AttendanceSheet(_Body):
    """A whole sign-in sheet: recorded all together, or (on any error) not at all."""

    attendees: tuple[AttendeeLine, ...] = Field(min_length=1, max_length=MAX_SHEET_LINES)


class AttendeePublic(BaseModel):
    participant_id: str
    factory_id: str
    role: str
    gender: str
    name: str | None
    attended_on: list[date]
    completed: bool
    pre_survey: bool
    post_survey: bool


AttendeePage = Page[AttendeePublic]


class SurveyForms(_Body):
    """A batch of survey forms: recorded all together, or not at all."""

    responses: tuple[ResponseLine, ...] = Field(min_length=1, max_length=2 * MAX_SHEET_LINES)


class Cancellation(_Body):
    reason: Reason


class FigurePublic(BaseModel):
    year: int
    country: str
    course_code: str | None = None
    role: str | None = None
    gender: str | None = None
    participants: int | None
    completions: int | None
    cumulative_participants: int | None = Field(description="Since the group's first year.")
    cumulative_completions: int | None
    suppressed: bool = Field(description="The year's figures are below the minimums: withheld.")
    cumulative_suppressed: bool


class Figures(BaseModel):
    min_participants: int
    min_factories: int
    by: list[str]
    figures: list[FigurePublic]


# --- advisory visits ----------------------------------------------------------------------------


class VisitCreate(_Body):
    factory_id: ResourceId
    planned_for: PlausibleDate
    purpose: VisitPurpose
    advisor: ResourceId | None = Field(
        None, description="The advisor's subject; an advisor plans their own visits."
    )
    description: SafeText = Field("", max_length=2000, description="Internal.")


class VisitCompletion(_Body):
    visited_on: PlausibleDate
    duration_days: float = Field(
        gt=0, le=10, multiple_of=0.5, description="Advisory days spent, in half days."
    )
    notes: SafeText = Field("", max_length=10_000, description="Internal: never leave the service.")
    plan_item_ids: tuple[ResourceId, ...] = Field((), max_length=MAX_PLAN_ITEMS)
    committee_meeting_id: ResourceId | None = None

    @model_validator(mode="after")
    def _distinct_items(self) -> VisitCompletion:
        if len(set(self.plan_item_ids)) != len(self.plan_item_ids):
            raise ValueError("plan item ids must not repeat")
        return self


class VisitPublic(BaseModel):
    visit_id: str
    factory_id: str
    country: str
    advisor: str
    planned_for: date
    purpose: str
    description: str
    status: str
    visited_on: date | None
    duration_days: float | None
    notes: str | None = Field(description="Staff only (null for a factory user).")
    plan_item_ids: list[str]
    committee_meeting_id: str | None
    cancel_reason: str | None
    version: int
    updated_at: datetime


VisitPage = Page[VisitPublic]


class CycleDays(BaseModel):
    cycle: int = Field(description="The assessment cycle (0: before the first report).")
    report_date: date | None
    visits: int
    days: float


class AdvisoryDays(BaseModel):
    factory_id: str
    cycles: list[CycleDays]

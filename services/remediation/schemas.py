"""Request and response models of the remediation API (XCreate, XUpdate, XPublic): the limits a
request must keep are declared here, and so documented in the OpenAPI description."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from libs.domain.types import PlausibleDate, ResourceId, SafeLine, SafeText
from services.remediation.domain.committee import (
    MAX_ATTENDEES,
    MAX_DECISION_LENGTH,
    MAX_DECISIONS,
    MAX_MEMBERS,
    Side,
)
from services.remediation.domain.finding import Finding
from services.remediation.domain.plan_events import ItemStatus

# meetings shown with the committee; the rest are under /v1/committees/{factory_id}/meetings
MEETINGS_ON_COMMITTEE = 50


class CapacityBuildingPublic(BaseModel):
    """A training session or advisory visit of the advisory service that addressed the item (from
    its public events: counts only, never a participant, a name or a visit's notes)."""

    kind: Literal["session", "visit"]
    source_id: str = Field(
        description="The advisory service's session id (`/v1/training-sessions/{session_id}`) "
        "or visit id (`/v1/advisory-visits/{visit_id}`)."
    )
    start_date: date = Field(description="A session's first training day; a visit's date.")
    end_date: date = Field(description="A session's last training day; a visit's date.")
    course_code: str | None = Field(description="The session's course; null for a visit.")
    course_title: str | None = Field(description="The session's course title; null for a visit.")
    purpose: str | None = Field(
        description="The visit's purpose (committee_support, improvement_plan, "
        "management_systems, training_follow_up or other); null for a session."
    )
    days: float = Field(
        ge=0, description="A session's training days; a visit's advisory days (in half days)."
    )
    participants: int | None = Field(
        ge=0, description="The factory's participants in the session; null for a visit."
    )
    completions: int | None = Field(
        ge=0, description="Of them, those who attended every training day; null for a visit."
    )
    committee_meeting_id: str | None = Field(
        description="The committee meeting the visit supported (`/v1/committees/{factory_id}"
        "/meetings`), if any; null for a session."
    )


class _ItemKey(BaseModel):
    item_id: str
    factory_id: str


class ItemPublic(Finding, _ItemKey):
    # no docstring: the OpenAPI description has none (the fields: the keys, then the finding's)
    model_config = ConfigDict(from_attributes=True)

    persistent: bool
    evidence: str
    status: ItemStatus
    due_date: date
    latest_due_date: date = Field(description="The latest due date the factory may choose.")
    root_cause: str | None
    planned_action: str | None
    responsible_person: str | None
    overdue: bool
    verified_by: str | None
    verified_at: datetime | None
    reopen_reason: str | None
    published_in: int | None = Field(
        None,
        description="The plan version whose publication first carried the item to buyers; null: "
        "a draft (its root cause, action, owner and due date have not left the factory).",
    )
    imported_from: str | None = Field(
        None,
        description="The history bundle the item's assessment was imported from; null for an "
        "item of the live system.",
    )

    capacity_building: list[CapacityBuildingPublic] = Field(
        description="The training sessions and advisory visits of the advisory service that "
        "named this item, by start date (the factory's own: a session or visit about another "
        "factory never shows here)."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def published(self) -> bool:
        """Buyers have the item's content (a publication carried it); until then the programme's
        deadline (`latest_due_date`) is the one it is held to."""
        return self.published_in is not None


class Progress(BaseModel):
    by_status: dict[str, int]
    total: int
    share_verified: float
    overdue: int


class PlanPublic(BaseModel):
    factory_id: str
    version: int
    progress: Progress
    first_report_date: date | None
    publication_due_date: date | None
    first_published_at: datetime | None
    last_published_at: datetime | None
    published_version: int | None
    publication_late: bool
    country: str | None = Field(
        None, description="The factory's country programme, as its latest report states it."
    )


class ItemDetailsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_cause: SafeText | None = Field(None, min_length=1, max_length=4000)
    planned_action: SafeText | None = Field(None, min_length=1, max_length=4000)
    responsible_person: SafeLine | None = Field(None, min_length=1, max_length=200)
    due_date: PlausibleDate | None = Field(
        None, description="Between the report date and the latest due date of the item."
    )


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ItemStatus = Field(
        description="in_progress or done (factory); verified, or open to reopen (assessor, admin)."
    )
    reason: SafeText | None = Field(None, max_length=4000, description="Required when reopening.")


class RecordEntry(BaseModel):
    assessment_id: str
    cycle: int
    report_date: date
    items_opened: int
    items_verified: int
    items_persistent: int
    average_days_to_verification: float | None


class RemediationRecord(BaseModel):
    factory_id: str
    assessments: list[RecordEntry]
    items_opened: int
    items_verified: int
    average_days_to_verification: float | None


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: ResourceId | None = Field(None, description="Keep to update a member.")
    name: SafeLine = Field(min_length=1, max_length=200)
    side: Side
    position: SafeLine | None = Field(None, max_length=200)


class MembersUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[MemberIn] = Field(max_length=MAX_MEMBERS)


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    held_on: PlausibleDate = Field(description="Not in the future.")
    attendees: list[ResourceId] = Field(
        min_length=1, max_length=MAX_ATTENDEES, description="Member ids."
    )
    decisions: list[Annotated[SafeText, Field(min_length=1, max_length=MAX_DECISION_LENGTH)]] = (
        Field(default_factory=list, max_length=MAX_DECISIONS)
    )
    endorses_plan: bool = False


class CommitteePublic(BaseModel):
    factory_id: str
    version: int
    members: list[dict[str, Any]]
    meetings: list[dict[str, Any]] = Field(
        description=f"The first {MEETINGS_ON_COMMITTEE} meetings in the order they were logged."
    )
    meetings_next_cursor: str | None = Field(
        None,
        description="When there are more meetings: the `cursor` of "
        "`GET /v1/committees/{factory_id}/meetings` for the next page.",
    )


def plan_public(row: dict[str, Any]) -> PlanPublic:
    return PlanPublic(
        **{key: row[key] for key in PlanPublic.model_fields if key in row},
        progress=Progress(
            by_status={s.value: row[s.value] for s in ItemStatus},
            total=row["total"],
            share_verified=row["share_verified"],
            overdue=row["overdue"],
        ),
    )

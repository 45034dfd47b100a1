"""The read side's rows, worked out from the aggregates' states (pure): a plan's summary, an item,
a committee, the capacity building done for items. The live projection writes them, the rebuild copies them and a command answers with
them, so the three always agree."""

from __future__ import annotations

from typing import Any

from services.remediation.domain.capacity import (
    Activity,
    CapacityBuilding,
    TrainingSessionRecorded,
)
from services.remediation.domain.committee import Committee
from services.remediation.domain.plan_state import ImprovementItem, Plan
from services.remediation.domain.policy import DueDatePolicy


def plan_summary(factory_id: str, plan: Plan, policy: DueDatePolicy) -> dict[str, Any]:
    """The plan's summary row (also the answer of a command that publishes it)."""
    progress = plan.progress()
    first_publication = plan.publications[0] if plan.publications else None
    last_publication = plan.publications[-1] if plan.publications else None
    return {
        "factory_id": factory_id,
        "version": plan.version,
        "total": progress.total,
        "open": progress.open,
        "in_progress": progress.in_progress,
        "done": progress.done,
        "verified": progress.verified,
        "overdue": progress.overdue,
        "share_verified": progress.share_verified,
        "first_report_date": plan.first_report_date,
        "publication_due_date": plan.publication_due_date(policy),
        "first_published_at": first_publication.published_at if first_publication else None,
        "last_published_at": last_publication.published_at if last_publication else None,
        "published_version": last_publication.plan_version if last_publication else None,
        "publication_late": plan.publication_late,
        "country": plan.country,
    }


def item_row(item: ImprovementItem) -> dict[str, Any]:
    """An item's row (also the answer of a command that changed it)."""
    return {**item.model_dump(exclude={"imported_at"}), "status": item.status.value}


def committee_summary(factory_id: str, current: Committee) -> dict[str, Any]:
    """The committee's row (also the answer of a command that changed it)."""
    return {
        "factory_id": factory_id,
        "version": current.version,
        "members": [member.model_dump(mode="json") for member in current.members],
        "meetings": [meeting.model_dump(mode="json") for meeting in current.meetings],
    }


def activity_rows(activity: Activity) -> list[dict[str, Any]]:
    """A session's or visit's rows: one per item it names, keyed by the factory it is about."""
    if isinstance(activity, TrainingSessionRecorded):
        shared: dict[str, Any] = {
            "kind": "session",
            "source_id": activity.session_id,
            "start_date": activity.start_date,
            "end_date": activity.end_date,
            "course_code": activity.course_code,
            "course_title": activity.course_title,
            "purpose": None,
            "days": float(activity.training_days),
            "participants": activity.participants,
            "completions": activity.completions,
            "committee_meeting_id": None,
        }
    else:
        shared = {
            "kind": "visit",
            "source_id": activity.visit_id,
            "start_date": activity.visited_on,
            "end_date": activity.visited_on,
            "course_code": None,
            "course_title": None,
            "purpose": activity.purpose,
            "days": activity.duration_days,
            "participants": None,
            "completions": None,
            "committee_meeting_id": activity.committee_meeting_id,
        }
    return [
        {"factory_id": activity.factory_id, "item_id": item_id, **shared}
        for item_id in activity.plan_item_ids
    ]


def capacity_rows(state: CapacityBuilding) -> list[dict[str, Any]]:
    """Every row of a factory's recorded capacity building (the rebuild's)."""
    return [row for activity in state.activities() for row in activity_rows(activity)]

"""The read models' rows, from an aggregate's state: pure, and the same for the live projections
(after each change) and the rebuild (after folding each stream), so the two cannot disagree."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.advisory.domain.course import Course
from services.advisory.domain.factory import FactoryRecord
from services.advisory.domain.session import Participant, ParticipantKey, Session
from services.advisory.domain.survey import Survey
from services.advisory.domain.visit import Visit
from services.advisory.domain.vocabulary import Phase

Row = dict[str, Any]


def course_row(course: Course, version: int, updated_at: datetime) -> Row:
    return {
        "code": course.code,
        "course_version": course.course_version,
        "title": course.title,
        "description": course.description,
        "audience_roles": list(course.audience_roles),
        "duration_days": course.duration_days,
        "languages": list(course.languages),
        "topics": list(course.topics),
        "retired": course.retired,
        "version": version,
        "updated_at": updated_at,
    }


def survey_row(survey: Survey, version: int, updated_at: datetime) -> Row:
    return {
        "survey_id": survey.survey_id,
        "course_code": survey.course_code,
        "survey_version": survey.survey_version,
        "title": survey.title,
        "scale_points": survey.scale_points,
        "items": [item.model_dump() for item in survey.items],
        "version": version,
        "updated_at": updated_at,
    }


def factory_row(record: FactoryRecord, version: int) -> Row:
    return {
        "factory_id": record.factory_id,
        "name": record.name,
        "country": record.country,
        "version": version,
    }


def cycle_rows(record: FactoryRecord) -> list[Row]:
    return [
        {"factory_id": record.factory_id, "cycle": cycle, "report_date": report_date}
        for cycle, report_date in sorted(record.cycles.items())
    ]


def session_row(session: Session, version: int, updated_at: datetime) -> Row:
    return {
        "session_id": session.session_id,
        "course_code": session.course_code,
        "course_version": session.course_version,
        "course_title": session.course_title,
        "training_days": session.training_days,
        "country": session.country,
        "open_session": session.open_session,
        "trainer": session.trainer,
        "start_date": session.start_date,
        "end_date": session.end_date,
        "capacity": session.capacity,
        "language": session.language,
        "survey_id": session.survey_id,
        "status": session.status.value,
        "participants": len(session.attendees),
        "completions": sum(session.completed(p) for p in session.attendees.values()),
        "delivered_on": session.delivered_on,
        "cancel_reason": session.cancel_reason,
        "version": version,
        "updated_at": updated_at,
    }


def session_factory_rows(session: Session) -> list[Row]:
    rows = []
    for part in session.factories:
        mine = [p for p in session.attendees.values() if p.factory_id == part.factory_id]
        rows.append(
            {
                "session_id": session.session_id,
                "factory_id": part.factory_id,
                "start_date": session.start_date,
                "plan_item_ids": list(part.plan_item_ids),
                "participants": len(mine),
                "completions": sum(session.completed(p) for p in mine),
            }
        )
    return rows


def attendance_row(session: Session, participant: Participant) -> Row:
    key = (participant.factory_id, participant.participant_id)
    return {
        "session_id": session.session_id,
        "factory_id": participant.factory_id,
        "participant_id": participant.participant_id,
        "role": participant.role,
        "gender": participant.gender,
        "name": participant.name,
        "attended_on": sorted(participant.days),
        "completed": session.completed(participant),
        "pre_survey": (*key, Phase.PRE.value) in session.scores,
        "post_survey": (*key, Phase.POST.value) in session.scores,
    }


def attendance_rows(session: Session, keys: Iterable[ParticipantKey] | None = None) -> list[Row]:
    """Every participant's row, or those of `keys`, in key order."""
    chosen = sorted(session.attendees if keys is None else set(keys))
    return [attendance_row(session, session.attendees[key]) for key in chosen]


def survey_change_rows(session: Session, keys: Iterable[ParticipantKey] | None = None) -> list[Row]:
    """The change of each participant (of `keys`, or all) with both responses in."""
    rows = []
    for key in sorted(session.attendees if keys is None else set(keys)):
        change = session.score_change(key)
        pre = session.scores.get((*key, Phase.PRE.value))
        if change is None or pre is None:
            continue
        rows.append(
            {
                "session_id": session.session_id,
                "factory_id": key[0],
                "participant_id": key[1],
                "course_code": session.course_code,
                "survey_id": pre.survey_id,
                "country": session.country,
                "year": session.start_date.year,
                "change": change,
            }
        )
    return rows


def figure_rows(session: Session) -> list[Row]:
    """A delivered session's participants per figure cell and factory (business time: the year
    the session ended, its last training day, as the programme's results count them)."""
    cells: dict[tuple[str, str, str], list[int]] = {}
    for participant in session.attendees.values():
        key = (participant.role, participant.gender, participant.factory_id)
        tally = cells.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += int(session.completed(participant))
    return [
        {
            "country": session.country,
            "course_code": session.course_code,
            "role": role,
            "gender": gender,
            "year": session.end_date.year,
            "factory_id": factory_id,
            "participants": tally[0],
            "completions": tally[1],
        }
        for (role, gender, factory_id), tally in sorted(cells.items())
    ]


FIGURE_KEY = ("country", "course_code", "role", "gender", "year", "factory_id")


def merge_figure_rows(rows: Iterable[Row]) -> list[Row]:
    """Figure rows summed per cell and factory (several sessions' rows), in key order."""
    merged: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        key = tuple(row[name] for name in FIGURE_KEY)
        known = merged.get(key)
        if known is None:
            merged[key] = dict(row)
        else:
            known["participants"] += row["participants"]
            known["completions"] += row["completions"]
    return [merged[key] for key in sorted(merged)]


def visit_row(visit: Visit, version: int, updated_at: datetime) -> Row:
    return {
        "visit_id": visit.visit_id,
        "factory_id": visit.factory_id,
        "country": visit.country,
        "advisor": visit.advisor,
        "planned_for": visit.planned_for,
        "purpose": visit.purpose,
        "description": visit.description,
        "status": visit.status.value,
        "visited_on": visit.visited_on,
        "duration_days": visit.duration_days,
        "notes": visit.notes,
        "plan_item_ids": list(visit.plan_item_ids),
        "committee_meeting_id": visit.committee_meeting_id,
        "cancel_reason": visit.cancel_reason,
        "version": version,
        "updated_at": updated_at,
    }

"""The TrainingSession aggregate's state: a course delivered at one factory or, open, to several
of one country; its attendance per participant (the days signed), their survey scores, and
where it stands (scheduled, delivered, cancelled). `session_rules` decides; this folds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction
from functools import cached_property

from libs.domain.aggregate import AggregateType
from libs.domain.envelope import DomainEvent
from services.advisory.domain.factory import GroupCount
from services.advisory.domain.session_events import (
    AttendanceRecorded,
    SessionCancelled,
    SessionDelivered,
    SessionFactory,
    SessionRescheduled,
    SessionScheduled,
    SurveyResponsesRecorded,
)
from services.advisory.domain.vocabulary import Phase, SessionStatus
from services.advisory.ids import SESSION_STREAM_PREFIX

# a change of score is kept as an integer in ten-thousandths of a scale point, so that sums in
# the read models are exact (a rebuild adds them in another order and gets the same figures)
CHANGE_SCALE = 10_000

ParticipantKey = tuple[str, str]
"""(factory id, participant id): participant ids are the factory's own."""


@dataclass(frozen=True)
class Participant:
    factory_id: str
    participant_id: str
    role: str
    gender: str
    name: str | None
    days: frozenset[date]


@dataclass(frozen=True)
class Score:
    """A response's score: the sum of its answers over its number of items."""

    survey_id: str
    total: int
    items: int

    @property
    def mean(self) -> Fraction:
        return Fraction(self.total, self.items)


@dataclass(frozen=True)
class Session:
    session_id: str
    course_code: str
    course_version: int
    course_title: str
    training_days: int
    country: str
    open_session: bool
    factories: tuple[SessionFactory, ...]
    trainer: str
    start_date: date
    end_date: date
    capacity: int
    language: str
    survey_id: str | None
    status: SessionStatus = SessionStatus.SCHEDULED
    attendees: Mapping[ParticipantKey, Participant] = field(default_factory=dict)
    scores: Mapping[tuple[str, str, str], Score] = field(default_factory=dict)
    delivered_on: date | None = None
    cancel_reason: str | None = None

    @cached_property
    def factory_ids(self) -> tuple[str, ...]:
        """Once per state (a sheet's every line asks)."""
        return tuple(part.factory_id for part in self.factories)

    def completed(self, participant: Participant) -> bool:
        """Completion: every training day of the course attended."""
        return len(participant.days) >= self.training_days

    def groups(self, factory_id: str | None = None) -> tuple[GroupCount, ...]:
        """Participants and completions by role and gender (of one factory, or all), sorted."""
        counts: dict[tuple[str, str], list[int]] = {}
        for participant in self.attendees.values():
            if factory_id is not None and participant.factory_id != factory_id:
                continue
            tally = counts.setdefault((participant.role, participant.gender), [0, 0])
            tally[0] += 1
            tally[1] += int(self.completed(participant))
        return tuple(
            GroupCount(role=role, gender=gender, participants=tally[0], completions=tally[1])
            for (role, gender), tally in sorted(counts.items())
        )

    def score_change(self, key: ParticipantKey) -> int | None:
        """The participant's change of mean score (post - pre) in ten-thousandths of a point,
        once both responses are in (rounded half to even: the same in every replica)."""
        pre = self.scores.get((*key, Phase.PRE.value))
        post = self.scores.get((*key, Phase.POST.value))
        if pre is None or post is None:
            return None
        return round((post.mean - pre.mean) * CHANGE_SCALE)


def evolve(session: Session | None, event: DomainEvent) -> Session | None:
    if isinstance(event, SessionScheduled):
        return Session(
            session_id=event.session_id,
            course_code=event.course_code,
            course_version=event.course_version,
            course_title=event.course_title,
            training_days=event.training_days,
            country=event.country,
            open_session=event.open_session,
            factories=tuple(event.factories),
            trainer=event.trainer,
            start_date=event.start_date,
            end_date=event.end_date,
            capacity=event.capacity,
            language=event.language,
            survey_id=event.survey_id,
        )
    if session is None:
        return None
    if isinstance(event, SessionRescheduled):
        return replace(
            session,
            trainer=event.trainer,
            start_date=event.start_date,
            end_date=event.end_date,
            capacity=event.capacity,
            language=event.language,
        )
    if isinstance(event, AttendanceRecorded):
        attendees = dict(session.attendees)
        for line in event.attendees:
            key = (line.factory_id, line.participant_id)
            known = attendees.get(key)
            days = frozenset(line.attended_on) | (known.days if known else frozenset())
            attendees[key] = Participant(
                factory_id=line.factory_id,
                participant_id=line.participant_id,
                role=known.role if known else line.role,
                gender=known.gender if known else line.gender,
                name=(known.name if known else None) or line.name,
                days=days,
            )
        return replace(session, attendees=attendees)
    if isinstance(event, SurveyResponsesRecorded):
        scores = dict(session.scores)
        for response in event.responses:
            scored = (response.factory_id, response.participant_id, response.phase)
            scores[scored] = Score(response.survey_id, response.score_sum, response.score_items)
        return replace(session, scores=scores)
    if isinstance(event, SessionDelivered):
        return replace(session, status=SessionStatus.DELIVERED, delivered_on=event.delivered_on)
    if isinstance(event, SessionCancelled):
        return replace(session, status=SessionStatus.CANCELLED, cancel_reason=event.reason)
    return session


SESSION: AggregateType[Session | None] = AggregateType(
    stream_type="training_session",
    stream_prefix=SESSION_STREAM_PREFIX,
    initial=None,
    evolve=evolve,
)

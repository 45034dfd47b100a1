"""The advisory service's public events as its relay publishes them, for buyer sharing's tests:
its own contract classes (services/advisory/contract.py), dumped whole (participant groups, plan
items, language: more than buyer sharing reads), in CloudEvents envelopes with the factory as the
subject, the public type, and the stream and version of the internal event they come from (a
delivered session: the factory's record; a visit: its own stream)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from libs.domain.contract import public_event_id
from libs.domain.envelope import DomainEvent, Envelope
from services.advisory.contract import (
    CONTRACT,
    AdvisoryVisitCompleted,
    ParticipantGroup,
    TrainingSessionDelivered,
)

COURSES = {
    "SST": ("Supervisory Skills Training", 4),
    "OSH": ("Occupational Safety and Health", 2),
    "PICC": ("Committee Training", 1),
}


@dataclass
class Advisory:
    """Builds the advisory service's public envelopes, numbering each stream's versions."""

    versions: dict[str, int] = field(default_factory=dict)

    def envelope(self, event: DomainEvent, factory_id: str, stream_id: str) -> Envelope:
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        public_type = CONTRACT.registry.type_of(event)
        return Envelope(
            id=public_event_id(str(uuid.uuid4()), public_type),
            source="/betterwork/advisory",
            type=public_type,
            subject=factory_id,
            time=datetime(2025, 5, 1, tzinfo=UTC),
            data=event.model_dump(mode="json"),
            correlationid=str(uuid.uuid4()),
            streamid=stream_id,
            streamversion=version,
        )

    def session(
        self,
        session_id: str,
        factory_id: str,
        course_code: str,
        start_date: date,
        *,
        women: int,
        men: int,
        completions: int,
        open_session: bool = False,
        title: str | None = None,
    ) -> Envelope:
        """A delivered session's event for one factory, with that factory's counts only."""
        course_title, training_days = COURSES[course_code]
        women_done = min(women, completions)
        groups = (
            ParticipantGroup(
                role="supervisor", gender="female", participants=women, completions=women_done
            ),
            ParticipantGroup(
                role="supervisor",
                gender="male",
                participants=men,
                completions=completions - women_done,
            ),
        )
        event = TrainingSessionDelivered(
            session_id=session_id,
            factory_id=factory_id,
            country="KH",
            course_code=course_code,
            course_version=1,
            course_title=title or course_title,
            open_session=open_session,
            start_date=start_date,
            end_date=date.fromordinal(start_date.toordinal() + training_days - 1),
            training_days=training_days,
            language="km",
            plan_item_ids=(f"{factory_id}-item-1",),
            participants=women + men,
            completions=completions,
            groups=groups,
            delivered_on=date.fromordinal(start_date.toordinal() + training_days),
        )
        return self.envelope(event, factory_id, f"factory-{factory_id}")

    def visit(
        self, visit_id: str, factory_id: str, visited_on: date, duration_days: float
    ) -> Envelope:
        event = AdvisoryVisitCompleted(
            visit_id=visit_id,
            factory_id=factory_id,
            country="KH",
            visited_on=visited_on,
            duration_days=duration_days,
            purpose="committee_support",
            plan_item_ids=(),
            committee_meeting_id="meeting-1",
        )
        return self.envelope(event, factory_id, f"advisory-visit-{visit_id}")


def programme(advisory: Advisory, factory_id: str, other: str) -> list[Envelope]:
    """A factory's training and advisory work over two years: an open session it shared with
    `other` (each with its own counts), two more sessions, and three visits."""
    return [
        advisory.session(
            "s-open",
            factory_id,
            "SST",
            date(2024, 3, 4),
            women=6,
            men=2,
            completions=7,
            open_session=True,
        ),
        advisory.session(
            "s-open",
            other,
            "SST",
            date(2024, 3, 4),
            women=20,
            men=9,
            completions=25,
            open_session=True,
        ),
        advisory.session(
            f"{factory_id}-s2",
            factory_id,
            "OSH",
            date(2024, 9, 2),
            women=10,
            men=5,
            completions=15,
        ),
        advisory.session(
            f"{factory_id}-s3",
            factory_id,
            "SST",
            date(2025, 2, 3),
            women=4,
            men=4,
            completions=6,
        ),
        advisory.visit(f"{factory_id}-v1", factory_id, date(2024, 5, 6), 1.0),
        advisory.visit(f"{factory_id}-v2", factory_id, date(2025, 1, 20), 0.5),
        advisory.visit(f"{factory_id}-v3", factory_id, date(2025, 4, 14), 2.5),
    ]

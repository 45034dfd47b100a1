"""The programme's capacity building: delivered training sessions of the seeded courses from 2004
(a factory's own sessions, and open sessions of several factories), each with its anonymous
attendance (most attend every training day), until the year's participants reach the shape's
figure; and advisory visits to open factories, up to a few a year. Pure."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from tools.history.population import Factory, day_in
from tools.history.reference import CourseRef, courses
from tools.history.shape import Shape

COURSE_WEIGHTS = {"WRR": 25, "OSH": 25, "SST": 20, "HR-INTRO": 10, "NEGOTIATION": 10, "PICC": 10}
WOMEN = {"worker": 0.86, "committee_member": 0.7, "supervisor": 0.65, "manager": 0.45}
COMPLETE = 0.85  # the share of attendees present on every training day
PURPOSES = {
    "improvement_plan": 40,
    "committee_support": 25,
    "management_systems": 15,
    "training_follow_up": 12,
    "other": 8,
}
DURATIONS = {0.5: 25, 1.0: 45, 1.5: 15, 2.0: 15}


def _choice(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def training_sessions(
    shape: Shape, seed: int, prefix: str, population: list[Factory]
) -> Iterator[dict[str, Any]]:
    catalogue = courses()
    weights = {code: weight for code, weight in COURSE_WEIGHTS.items() if code in catalogue}
    for year, target in sorted(shape.training_participants.items()):
        rng = random.Random(f"{seed}:training:{year}")
        sessions: list[dict[str, Any]] = []
        participants, attempts = 0, 0
        while participants < target and attempts < 100 * target:
            attempts += 1
            course = catalogue[_choice(rng, weights)]
            start = day_in(rng, date(year, 1, 10), date(year, 11, 30))
            open_factories = [f for f in population if f.open_on(start, shape)]
            if not open_factories:
                break
            session = _session(rng, shape, course, start, open_factories)
            if session is None:
                continue
            sessions.append(session)
            participants += len(session["attendees"])
        sessions.sort(key=lambda session: (session["start_date"], session["course_code"]))
        for number, session in enumerate(sessions, start=1):
            yield {"source_id": f"{prefix}-T-{year}-{number:04d}", **session}


def _session(
    rng: random.Random,
    shape: Shape,
    course: CourseRef,
    start: date,
    open_factories: list[Factory],
) -> dict[str, Any] | None:
    # a course of several days is given on consecutive days, or one day a week
    step = 7 if course.training_days > 2 and rng.random() < 0.5 else 1
    end = start + timedelta(days=step * (course.training_days - 1))
    attending = [f for f in open_factories if f.open_on(end, shape)]
    if not attending:
        return None
    several = rng.random() < 0.35 and len(attending) > 1
    chosen = (
        rng.sample(attending, min(len(attending), rng.randint(2, 4)))
        if several
        else [rng.choice(attending)]
    )
    attendees = []
    for factory in chosen:
        for _ in range(rng.randint(4, 10) if several else rng.randint(10, 30)):
            role = rng.choice(course.audience)
            days = course.training_days
            if days > 1 and rng.random() >= COMPLETE:
                days = rng.randint(1, days - 1)
            attendees.append(
                {
                    "factory": factory.source_id,
                    "role": role,
                    "gender": "female" if rng.random() < WOMEN.get(role, 0.6) else "male",
                    "days_attended": days,
                }
            )
    language = "km" if "km" in course.languages and rng.random() < 0.8 else course.languages[0]
    return {
        "course_code": course.code,
        "factories": [factory.source_id for factory in chosen],
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "language": language,
        "trainer": f"Trainer {rng.randint(1, 12):02d}",
        "attendees": attendees,
    }


def advisory_visits(
    shape: Shape, seed: int, prefix: str, population: list[Factory]
) -> Iterator[dict[str, Any]]:
    for year in range(shape.visits_from, shape.last_year + 1):
        rng = random.Random(f"{seed}:visits:{year}")
        visits: list[tuple[date, int, dict[str, Any]]] = []
        for factory in population:
            first = max(date(year, 1, 1), factory.registered_on)
            last = min(date(year, 12, 31), factory.last_day(shape))
            if first > last:
                continue
            for _ in range(_choice(rng, {0: 35, 1: 40, 2: 20, 3: 5})):
                visited = day_in(rng, first, last)
                purpose = _choice(rng, PURPOSES)
                visits.append(
                    (
                        visited,
                        factory.index,
                        {
                            "factory": factory.source_id,
                            "visited_on": visited.isoformat(),
                            "duration_days": _choice(rng, DURATIONS),
                            "purpose": purpose,
                            "notes": f"Advisory visit ({purpose.replace('_', ' ')}).",
                        },
                    )
                )
        visits.sort(key=lambda visit: (visit[0], visit[1]))
        for number, (_, _, visit) in enumerate(visits, start=1):
            yield {"source_id": f"{prefix}-V-{year}-{number:05d}", **visit}

"""The advisory half of the programme, through the advisory service's own REST API: training
sessions at each factory and open sessions gathering several factories of one country programme
(mostly delivered, some cancelled, the latest cycle's still to come), bulk sign-in sheets with a
garment factory's participant mix, pre and post outcome surveys with a realistic positive shift,
and 1 to 3 enterprise-advisory visits per factory and cycle.

Used by the programme generator (`bw.py seed`, after each factory's assessments and plans, with
the plan items and committee meetings it made) and by the service benchmark's advisory phase (on
factories it published upstream itself). Staff tokens carry their country programmes (`countries`):
each trainer and advisor works for one country, the admin who publishes the survey instruments for
the headquarters ("*").

Every command carries an Idempotency-Key derived from the run's seed, the factory (or the open
session's group) and the step, so a rerun replays what was done and carries on, as the rest of the
programme does. Each factory and group draws from its own deterministic random generator.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from bench.rest import Caller, RequestFailed, token
from libs.servicekit.auth import Role

# how long a factory may take to reach the advisory service (its consumer of the assessment
# service's events) before the seed gives up on it
FACTORY_WAIT_SECONDS = 120.0
TRAINERS_PER_COUNTRY = 6
ADVISORS_PER_COUNTRY = 8
OPEN_GROUP_SIZE = 4  # factories of one country gathered in an open session
SAMPLES = 500  # session and factory ids kept for the benchmark's queries
LANGUAGE = {"KH": "km", "BD": "bn", "VN": "vi", "ID": "id", "JO": "ar", "ET": "am", "PK": "ur"}
# women's share of line supervisors (the rest of the mix is from the factory's workforce)
WOMEN_SUPERVISORS = {"KH": 0.6, "VN": 0.65, "BD": 0.25, "JO": 0.35}

# single-factory sessions: a course's chance in a factory's first cycle and in the later ones
COURSES_FIRST_CYCLE = {"PICC": 0.7, "SST": 0.6, "WRR": 0.5, "OSH": 0.3, "HR-INTRO": 0.05}
COURSES_LATER_CYCLES = {"SST": 0.3, "WRR": 0.4, "OSH": 0.4, "PICC": 0.25, "NEGOTIATION": 0.05}
# open sessions gather managers, committee members and supervisors of several factories
OPEN_COURSES = {"HR-INTRO": 0.4, "NEGOTIATION": 0.3, "OSH": 0.3}
OPEN_SESSION_CHANCE = 0.6  # a group's chance of an open session per cycle
CANCELLED = 0.07  # sessions cancelled before they took place (and visits)
UPCOMING = 0.15  # factories with a session still to come after their latest assessment
ABSENT_A_DAY = 0.06  # a participant's chance of missing a given training day
DAY_BY_DAY_SHEETS = 0.2  # multi-day sessions entered one sign-in sheet per day
PRE_FORMS = 0.95
POST_FORMS = 0.9
# the mean shift of a participant's score (5-point scale) after each course
SHIFT = {"SST": 0.5, "WRR": 0.4, "OSH": 0.45, "PICC": 0.35, "HR-INTRO": 0.3, "NEGOTIATION": 0.35}
CANCEL_REASONS = (
    "Peak production season: the factory asked to postpone.",
    "Too few participants registered.",
    "Trainer unavailable; to be rescheduled.",
)
VISIT_PURPOSES = (
    ("improvement_plan", 0.4),
    ("committee_support", 0.3),
    ("management_systems", 0.15),
    ("training_follow_up", 0.1),
    ("other", 0.05),
)
VISIT_DAYS = ((0.5, 0.3), (1.0, 0.5), (1.5, 0.1), (2.0, 0.1))
VISITS_PER_CYCLE = ((1, 0.35), (2, 0.45), (3, 0.2))

# the outcome survey of each course: six Likert items on what the course is meant to change
SURVEY_ITEMS = {
    "SST": (
        ("instructions", "I give clear instructions to the workers on my line."),
        ("feedback", "I give feedback without shouting or threats."),
        ("listening", "Workers on my line tell me about problems early."),
        ("problem-solving", "I solve problems on the line together with the workers."),
        ("respect", "Supervisors and workers treat each other with respect."),
        ("teamwork", "My line works well as a team."),
    ),
    "HR-INTRO": (
        ("contracts", "I know what the law asks of employment contracts."),
        ("wages", "Our wage records are complete and explained to workers."),
        ("working-time", "Overtime is planned, voluntary and recorded."),
        ("discipline", "Our disciplinary procedure is written and followed."),
        ("grievances", "Workers have a safe way to raise grievances."),
        ("records", "Personnel records are kept as the law requires."),
    ),
    "NEGOTIATION": (
        ("preparation", "I prepare my position before a negotiation."),
        ("interests", "I understand what the other side needs."),
        ("options", "We look for options that work for both sides."),
        ("agreement", "Agreements we reach are written down and kept."),
        ("trust", "Workers' representatives and management trust each other."),
        ("dialogue", "Disagreements are settled by talking, not by strikes or dismissals."),
    ),
    "WRR": (
        ("rights", "I know my rights at work under the law."),
        ("duties", "I know what the factory may ask of me."),
        ("wages", "I understand how my wage and overtime pay are calculated."),
        ("leave", "I know my leave entitlements, maternity leave included."),
        ("voice", "I can raise a problem without fear of being punished."),
        ("union", "I know I may join a union and take part in its activities."),
    ),
    "OSH": (
        ("hazards", "I can name the main hazards at my workplace."),
        ("chemicals", "Chemicals are labelled and handled safely."),
        ("machines", "Machines have their guards and are used safely."),
        ("emergency", "I know what to do and where to go in an emergency."),
        ("ppe", "Protective equipment is provided and used."),
        ("committee", "The safety committee acts on what workers report."),
    ),
    "PICC": (
        ("role", "I know the committee's role in the improvement plan."),
        ("meetings", "Our committee meets regularly with an agenda and minutes."),
        ("voice", "Worker members speak freely in committee meetings."),
        ("follow-up", "The committee follows up the actions it decides."),
        ("plan", "The committee owns the factory's improvement plan."),
        ("reporting", "Workers hear about the committee's decisions."),
    ),
}
GENERIC_ITEMS = (
    ("knowledge", "I understand what the training covered."),
    ("confidence", "I am confident applying it at work."),
    ("relations", "Relations between workers and management are good."),
    ("communication", "Communication at the factory is good."),
    ("morale", "Morale at the factory is good."),
    ("practice", "What I learnt is practised at the factory."),
)


@dataclass(frozen=True)
class CycleFacts:
    """What the advisory work of a factory's cycle hangs on."""

    cycle: int
    opened_on: date  # the cycle's assessment: its work follows this day
    plan_items: tuple[tuple[str, str], ...] = ()  # (item_id, cluster_id) the seed knows
    committee_meeting_id: str | None = None


@dataclass(frozen=True)
class SeededFactory:
    index: int
    factory_id: str
    country: str
    women: int
    men: int
    cycles: tuple[CycleFacts, ...]


@dataclass
class AdvisoryTally:
    """What the advisory part did (requests are counted in the programme's tally)."""

    sessions: Counter[str] = field(default_factory=Counter)  # by status
    open_sessions: int = 0
    attendance_lines: int = 0
    participants: int = 0
    survey_forms: Counter[str] = field(default_factory=Counter)  # by phase
    visits: Counter[str] = field(default_factory=Counter)  # by status
    advisory_days: float = 0.0
    events: int = 0  # the sessions' and visits' final versions
    failures: list[str] = field(default_factory=list)
    sample_sessions: list[str] = field(default_factory=list)  # delivered
    sample_factories: list[tuple[str, str]] = field(default_factory=list)  # (factory_id, country)
    years: set[int] = field(default_factory=set)
    courses: set[str] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        return {
            "sessions": dict(self.sessions),
            "open_sessions": self.open_sessions,
            "attendance_lines": self.attendance_lines,
            "participants": self.participants,
            "survey_forms": dict(self.survey_forms),
            "visits": dict(self.visits),
            "advisory_days": self.advisory_days,
            "events": self.events,
            "failures": len(self.failures),
            "sample_sessions": self.sample_sessions[-SAMPLES:],
            "sample_factories": self.sample_factories[-SAMPLES:],
            "years": sorted(self.years),
            "courses": sorted(self.courses),
        }


@dataclass(frozen=True)
class Course:
    code: str
    title: str
    duration_days: int
    audience_roles: tuple[str, ...]
    languages: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Participant:
    participant_id: str
    role: str
    gender: str


@dataclass(frozen=True)
class Plan:
    """One session as the generator means it to happen."""

    course: Course
    days: tuple[date, ...]  # the training days
    key: str  # the Idempotency-Key prefix of its commands
    trainer: str
    country: str
    parts: tuple[tuple[SeededFactory, tuple[str, ...], tuple[Participant, ...]], ...]
    cancelled: bool = False
    upcoming: bool = False  # scheduled after today: no attendance yet


def today_utc() -> date:
    """The services' own day (their clock is UTC): attendance and visits may not be later."""
    return datetime.now(UTC).date()


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([value for value, _ in choices], [weight for _, weight in choices])[0]


class Pool:
    """A factory's people as its sign-in sheets know them: pseudonymous ids (stable across the
    factory's sessions), each with one role and one gender. The first six sit on the committee,
    the next managers, then line supervisors, then the workers."""

    COMMITTEE = 6
    MANAGERS = 9

    def __init__(self, factory: SeededFactory, seed: int) -> None:
        self.factory = factory
        self.seed = seed
        workforce = max(factory.women + factory.men, 60)
        self.women_share = factory.women / workforce if workforce else 0.8
        self.supervisors = min(150, max(12, workforce // 40))
        self.first_worker = self.COMMITTEE + self.MANAGERS + self.supervisors
        self.size = max(workforce, self.first_worker + 40)

    def role_range(self, role: str) -> range:
        if role == "committee_member":
            return range(0, self.COMMITTEE)
        if role == "manager":
            return range(self.COMMITTEE, self.COMMITTEE + self.MANAGERS)
        if role == "supervisor":
            return range(self.COMMITTEE + self.MANAGERS, self.first_worker)
        return range(self.first_worker, self.size)

    def person(self, number: int) -> Participant:
        digest = hashlib.blake2b(
            f"{self.seed}:{self.factory.factory_id}:{number}".encode(), digest_size=8
        ).digest()
        draw = int.from_bytes(digest[:4], "big") / 2**32
        role = next(
            name
            for name in ("committee_member", "manager", "supervisor", "worker")
            if number in self.role_range(name)
        )
        women = {
            "committee_member": 0.6,
            "manager": 0.35,
            "supervisor": WOMEN_SUPERVISORS.get(self.factory.country, 0.5),
            "worker": self.women_share,
        }[role]
        if draw < 0.01:
            gender = "undisclosed"
        elif draw < 0.012:
            gender = "other"
        elif draw < 0.012 + women * 0.988:
            gender = "female"
        else:
            gender = "male"
        return Participant(f"p-{digest[4:].hex()}-{number}", role, gender)

    def draw(self, rng: random.Random, role: str, count: int) -> list[Participant]:
        span = self.role_range(role)
        numbers = rng.sample(span, min(count, len(span)))
        return [self.person(number) for number in numbers]


class AdvisoryProgramme:
    """Drives the advisory work of factories the services already know (a bounded number at a
    time, each factory's commands in order), then the open sessions of their country groups."""

    def __init__(
        self,
        advisory_url: str,
        client: httpx.AsyncClient,
        *,
        seed: int,
        count: Callable[[str], None],
        key_prefix: str | None = None,
    ) -> None:
        self.url = advisory_url
        self.client = client
        self.seed = seed
        self.count = count
        self.key_prefix = key_prefix if key_prefix is not None else f"seed{seed}"
        self.tally = AdvisoryTally()
        self.admin = Caller(client, advisory_url, token(Role.ADMIN, "seed-admin", countries="*"))
        self._callers: dict[tuple[Role, str, str], Caller] = {}
        self._courses: dict[str, Course] = {}
        self._surveys: dict[str, tuple[str, int, tuple[str, ...]]] = {}  # id, version, items
        self._prepared = asyncio.Lock()
        self._ready = False

    # -- identities and the catalogue ---------------------------------------------------------
    def staff(self, role: Role, subject: str, country: str) -> Caller:
        key = (role, subject, country)
        if key not in self._callers:
            self._callers[key] = Caller(
                self.client, self.url, token(role, subject, countries=[country])
            )
        return self._callers[key]

    def trainer(self, rng: random.Random, country: str) -> tuple[str, Caller]:
        subject = f"trainer-{country.lower()}-{rng.randint(1, TRAINERS_PER_COUNTRY)}"
        return subject, self.staff(Role.TRAINER, subject, country)

    def advisor(self, rng: random.Random, country: str) -> Caller:
        subject = f"advisor-{country.lower()}-{rng.randint(1, ADVISORS_PER_COUNTRY)}"
        return self.staff(Role.ASSESSOR, subject, country)

    async def prepare(self) -> None:
        """The catalogue's courses, and an outcome survey on each (published once: found again
        by its title on a rerun)."""
        async with self._prepared:
            if self._ready:
                return
            page = await self.admin.json("GET", "/v1/courses", params={"limit": 100})
            for item in page["items"]:
                if item["retired"]:
                    continue
                self._courses[item["code"]] = Course(
                    code=item["code"],
                    title=item["title"],
                    duration_days=item["duration_days"],
                    audience_roles=tuple(item["audience_roles"]),
                    languages=tuple(item["languages"]),
                    topics=tuple(item["topics"]),
                )
            for course in self._courses.values():
                await self._survey(course)
            self._ready = True

    async def _survey(self, course: Course) -> None:
        title = f"Outcome survey: {course.title}"[:200]
        page = await self.admin.json(
            "GET", "/v1/surveys", params={"course_code": course.code, "limit": 100}
        )
        found = next((item for item in page["items"] if item["title"] == title), None)
        if found is None:
            found = await self.admin.json(
                "POST",
                "/v1/surveys",
                json={
                    "course_code": course.code,
                    "scale_points": 5,
                    "title": title,
                    "items": [
                        {"item_id": item_id, "text": text}
                        for item_id, text in SURVEY_ITEMS.get(course.code, GENERIC_ITEMS)
                    ],
                },
                idempotency_key=f"{self.key_prefix}-survey-{course.code}",
            )
            self.count("advisory: publish survey")
        self._surveys[course.code] = (
            found["survey_id"],
            found["survey_version"],
            tuple(item["item_id"] for item in found["items"]),
        )

    # -- the whole run (the benchmark's advisory phase) --------------------------------------------
    async def run(
        self,
        factories: Sequence[SeededFactory],
        concurrency: int,
        deadline: float | None = None,
        on_progress: Callable[[int], None] = lambda done: None,
    ) -> AdvisoryTally:
        """Every factory's own sessions and visits, or those started before `deadline`
        (monotonic; in-flight ones finish), then the open sessions of the factories done."""
        await self.prepare()
        queue = list(factories)
        done: list[SeededFactory] = []

        async def worker() -> None:
            while queue:
                if deadline is not None and time.monotonic() > deadline:
                    return
                factory = queue.pop(0)
                if await self.factory(factory):
                    done.append(factory)
                on_progress(len(done))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await self.open_sessions(done, concurrency)
        return self.tally

    # -- one factory ----------------------------------------------------------------------------
    async def factory(self, factory: SeededFactory) -> bool:
        """The factory's own sessions and visits over its cycles; False when it failed (noted)."""
        await self.prepare()
        rng = random.Random(f"{self.seed}-advisory-{factory.index}")
        key = f"{self.key_prefix}-f{factory.index}-adv"
        try:
            await self._wait_until_known(factory)
            pool = Pool(factory, self.seed)
            today = today_utc()
            for position, facts in enumerate(factory.cycles):
                following = (
                    factory.cycles[position + 1].opened_on
                    if position + 1 < len(factory.cycles)
                    else None
                )
                last = following is None
                window = (facts.opened_on + timedelta(days=14), _window_end(following, today))
                chances = COURSES_FIRST_CYCLE if facts.cycle == 1 else COURSES_LATER_CYCLES
                for number, (code, chance) in enumerate(chances.items()):
                    course = self._courses.get(code)
                    if course is None or rng.random() >= chance:
                        continue
                    plan = self._plan_single(
                        rng, factory, pool, facts, course, window, f"{key}-c{facts.cycle}-s{number}"
                    )
                    if plan is not None:
                        await self.session(plan)
                if last and rng.random() < UPCOMING:
                    course = self._courses.get(rng.choice(("SST", "WRR", "OSH")))
                    if course is not None:
                        start = today + timedelta(days=rng.randint(10, 90))
                        plan = self._plan_single(
                            rng,
                            factory,
                            pool,
                            facts,
                            course,
                            (start, start + timedelta(days=40)),
                            f"{key}-c{facts.cycle}-upcoming",
                        )
                        if plan is not None:
                            await self.session(plan)
                await self._visits(rng, factory, facts, window, f"{key}-c{facts.cycle}", last)
        except RequestFailed as error:
            self.tally.failures.append(f"advisory, factory #{factory.index}: {error}")
            return False
        self.tally.sample_factories.append((factory.factory_id, factory.country))
        return True

    async def _wait_until_known(self, factory: SeededFactory) -> None:
        """The advisory service learns of factories from the assessment service's events: ask
        until it knows this one (normally within a second of its registration)."""
        caller = self.advisor(random.Random(factory.index), factory.country)
        deadline = time.monotonic() + FACTORY_WAIT_SECONDS
        while True:
            response = await caller.request(
                "GET",
                "/v1/advisory-visits/days",
                params={"factory_id": factory.factory_id},
                accept=(404,),
            )
            if response.status_code == 200:
                return
            if time.monotonic() > deadline:
                raise RequestFailed(
                    "GET", "/v1/advisory-visits/days", 404, f"{factory.factory_id} never arrived"
                )
            await asyncio.sleep(0.2)

    def _plan_single(
        self,
        rng: random.Random,
        factory: SeededFactory,
        pool: Pool,
        facts: CycleFacts,
        course: Course,
        window: tuple[date, date],
        key: str,
    ) -> Plan | None:
        days = _training_days(rng, course, window)
        upcoming = False
        if days is None:
            return None
        if days[-1] > today_utc():
            upcoming = True
        size = rng.randint(15, 32)
        participants = _mix(rng, pool, course, size)
        if not participants:
            return None
        items = tuple(item_id for item_id, cluster in facts.plan_items if cluster in course.topics)
        linked = tuple(rng.sample(items, min(len(items), rng.randint(0, 4))))
        subject, _ = self.trainer(rng, factory.country)
        return Plan(
            course=course,
            days=days,
            key=key,
            trainer=subject,
            country=factory.country,
            parts=((factory, linked, tuple(participants)),),
            cancelled=not upcoming and rng.random() < CANCELLED,
            upcoming=upcoming,
        )

    # -- open sessions ------------------------------------------------------------------------------
    async def open_sessions(self, factories: Sequence[SeededFactory], concurrency: int) -> None:
        """Groups of OPEN_GROUP_SIZE factories of one country (by their order in the run) meet in
        open sessions of courses for managers, committees and supervisors, most cycles."""
        await self.prepare()
        by_country: dict[str, list[SeededFactory]] = {}
        for factory in sorted(factories, key=lambda factory: factory.index):
            by_country.setdefault(factory.country, []).append(factory)
        groups = [
            (country, number, members[start : start + OPEN_GROUP_SIZE])
            for country, members in sorted(by_country.items())
            for number, start in enumerate(range(0, len(members), OPEN_GROUP_SIZE))
        ]
        groups = [group for group in groups if len(group[2]) >= 2]
        queue = list(groups)

        async def worker() -> None:
            while queue:
                country, number, members = queue.pop(0)
                try:
                    await self._open_group(country, number, members)
                except RequestFailed as error:
                    self.tally.failures.append(f"advisory, open group {country}-{number}: {error}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def _open_group(self, country: str, number: int, members: list[SeededFactory]) -> None:
        # named by its members, so that a rerun in which more factories got through (and the
        # groups fell otherwise) makes new sessions instead of replaying another group's keys
        members_key = hashlib.blake2b(
            ",".join(str(member.index) for member in members).encode(), digest_size=4
        ).hexdigest()
        rng = random.Random(f"{self.seed}-open-{country}-{members_key}")
        key = f"{self.key_prefix}-open-{country}-g{number}-{members_key}"
        today = today_utc()
        cycles = min(len(member.cycles) for member in members)
        for position in range(cycles):
            if rng.random() >= OPEN_SESSION_CHANCE:
                continue
            code = _weighted(rng, list(OPEN_COURSES.items()))
            course = self._courses.get(code)
            if course is None:
                continue
            opened = max(member.cycles[position].opened_on for member in members)
            following = [
                member.cycles[position + 1].opened_on
                for member in members
                if position + 1 < len(member.cycles)
            ]
            end = _window_end(min(following) if following else None, today)
            days = _training_days(rng, course, (opened + timedelta(days=30), end))
            if days is None or days[-1] > today:
                continue
            parts = []
            for member in members:
                people = _mix(rng, Pool(member, self.seed), course, rng.randint(2, 6), open_=True)
                if people:
                    parts.append((member, (), tuple(people)))
            if len(parts) < 2:
                continue
            subject, _ = self.trainer(rng, country)
            await self.session(
                Plan(
                    course=course,
                    days=days,
                    key=f"{key}-c{position + 1}",
                    trainer=subject,
                    country=country,
                    parts=tuple(parts),
                    cancelled=rng.random() < CANCELLED,
                )
            )
            self.tally.open_sessions += 1

    # -- a session from schedule to delivery --------------------------------------------------------
    async def session(self, plan: Plan) -> None:
        rng = random.Random(plan.key)
        caller = self.staff(Role.TRAINER, plan.trainer, plan.country)
        course = plan.course
        open_session = len(plan.parts) > 1
        participants = sum(len(people) for _, _, people in plan.parts)
        survey = self._surveys.get(course.code)
        language = LANGUAGE.get(plan.country, "en")
        if language not in course.languages:
            language = "en" if "en" in course.languages else course.languages[0]
        session = await caller.json(
            "POST",
            "/v1/training-sessions",
            json={
                "course_code": course.code,
                "factories": [
                    {"factory_id": factory.factory_id, "plan_item_ids": list(items)}
                    for factory, items, _ in plan.parts
                ],
                "open_session": open_session,
                "start_date": plan.days[0].isoformat(),
                "end_date": plan.days[-1].isoformat(),
                "capacity": min(500, participants + rng.randint(0, 8)),
                "language": language,
                "survey_id": survey[0] if survey else None,
            },
            idempotency_key=f"{plan.key}-schedule",
        )
        self.count("advisory: schedule session")
        self.tally.courses.add(course.code)
        path = f"/v1/training-sessions/{session['session_id']}"
        if plan.upcoming:
            self._session_done(session, plan)
            return
        if plan.cancelled:
            session = await caller.json(
                "POST",
                f"{path}/cancellation",
                json={"reason": rng.choice(CANCEL_REASONS)},
                idempotency_key=f"{plan.key}-cancel",
            )
            self.count("advisory: cancel session")
            self._session_done(session, plan)
            return
        attended: dict[str, tuple[date, ...]] = {}
        lines = []
        for factory, _, people in plan.parts:
            for person in people:
                days = tuple(day for day in plan.days if rng.random() >= ABSENT_A_DAY)
                if not days:
                    continue  # registered, never came
                attended[person.participant_id] = days
                line: dict[str, Any] = {
                    "participant_id": person.participant_id,
                    "role": person.role,
                    "gender": person.gender,
                    "attended_on": [day.isoformat() for day in days],
                }
                if open_session:
                    line["factory_id"] = factory.factory_id
                lines.append(line)
        if not lines:
            return
        if len(plan.days) > 1 and rng.random() < DAY_BY_DAY_SHEETS:
            sheets = [
                [
                    {**line, "attended_on": [day.isoformat()]}
                    for line in lines
                    if day.isoformat() in line["attended_on"]
                ]
                for day in plan.days
            ]
        else:
            sheets = [lines]
        for number, sheet in enumerate(sheet for sheet in sheets if sheet):
            session = await caller.json(
                "POST",
                f"{path}/attendance",
                json={"attendees": sheet},
                idempotency_key=f"{plan.key}-sheet{number}",
            )
            self.count("advisory: attendance sheet")
            self.tally.attendance_lines += len(sheet)
        self.tally.participants += len(lines)
        if survey is not None:
            session = await self._surveys_of(caller, path, plan, lines, attended, survey, rng)
        session = await caller.json(
            "POST", f"{path}/delivery", idempotency_key=f"{plan.key}-deliver"
        )
        self.count("advisory: deliver session")
        self._session_done(session, plan)
        if len(self.tally.sample_sessions) < 10 * SAMPLES:
            self.tally.sample_sessions.append(session["session_id"])

    async def _surveys_of(
        self,
        caller: Caller,
        path: str,
        plan: Plan,
        lines: list[dict[str, Any]],
        attended: dict[str, tuple[date, ...]],
        survey: tuple[str, int, tuple[str, ...]],
        rng: random.Random,
    ) -> Any:
        """Pre forms of those present on the first day, post forms of those on the last; each
        participant's answers scatter around their own level, which the course moves up."""
        _, version, items = survey
        shift = SHIFT.get(plan.course.code, 0.35)
        session: Any = None
        forms: dict[str, list[dict[str, Any]]] = {"pre": [], "post": []}
        for line in lines:
            days = attended[line["participant_id"]]
            level = rng.gauss(3.0, 0.55)
            gain = rng.gauss(shift, 0.45)
            for phase, day, share, mean in (
                ("pre", plan.days[0], PRE_FORMS, level),
                ("post", plan.days[-1], POST_FORMS, level + gain),
            ):
                if day not in days or rng.random() >= share:
                    continue
                form: dict[str, Any] = {
                    "participant_id": line["participant_id"],
                    "phase": phase,
                    "survey_version": version,
                    "answers": {
                        item: min(5, max(1, round(rng.gauss(mean, 0.6)))) for item in items
                    },
                }
                if "factory_id" in line:
                    form["factory_id"] = line["factory_id"]
                forms[phase].append(form)
        for phase in ("pre", "post"):
            if not forms[phase]:
                continue
            session = await caller.json(
                "POST",
                f"{path}/survey-responses",
                json={"responses": forms[phase]},
                idempotency_key=f"{plan.key}-survey-{phase}",
            )
            self.count("advisory: survey forms")
            self.tally.survey_forms[phase] += len(forms[phase])
        return session

    def _session_done(self, session: dict[str, Any], plan: Plan) -> None:
        self.tally.sessions[session["status"]] += 1
        self.tally.events += int(session["version"])
        self.tally.years.add(plan.days[0].year)

    # -- visits -----------------------------------------------------------------------------------
    async def _visits(
        self,
        rng: random.Random,
        factory: SeededFactory,
        facts: CycleFacts,
        window: tuple[date, date],
        key: str,
        last: bool,
    ) -> None:
        today = today_utc()
        start, end = facts.opened_on + timedelta(days=7), window[1]
        for number in range(_weighted(rng, VISITS_PER_CYCLE)):
            advisor = self.advisor(rng, factory.country)
            purpose = _weighted(rng, VISIT_PURPOSES)
            if start <= end:
                planned_for = start + timedelta(days=rng.randint(0, (end - start).days))
            elif last:
                planned_for = today + timedelta(days=rng.randint(7, 120))
            else:
                continue
            visit = await advisor.json(
                "POST",
                "/v1/advisory-visits",
                json={
                    "factory_id": factory.factory_id,
                    "planned_for": planned_for.isoformat(),
                    "purpose": purpose,
                    "description": f"Cycle {facts.cycle}: {purpose.replace('_', ' ')}.",
                },
                idempotency_key=f"{key}-v{number}-plan",
            )
            self.count("advisory: plan visit")
            path = f"/v1/advisory-visits/{visit['visit_id']}"
            if planned_for > today:
                pass  # still to come
            elif rng.random() < CANCELLED:
                visit = await advisor.json(
                    "POST",
                    f"{path}/cancellation",
                    json={"reason": "The factory asked to move the visit."},
                    idempotency_key=f"{key}-v{number}-cancel",
                )
                self.count("advisory: cancel visit")
            else:
                visited_on = min(today, planned_for + timedelta(days=rng.choice((0, 0, 0, 1, 3))))
                items = [item_id for item_id, _ in facts.plan_items]
                linked = (
                    rng.sample(items, min(len(items), rng.randint(1, 4)))
                    if purpose in ("improvement_plan", "training_follow_up")
                    else []
                )
                days = _weighted(rng, VISIT_DAYS)
                visit = await advisor.json(
                    "POST",
                    f"{path}/completion",
                    json={
                        "visited_on": visited_on.isoformat(),
                        "duration_days": days,
                        "notes": "Met the committee and the HR manager; reviewed open items.",
                        "plan_item_ids": linked,
                        "committee_meeting_id": (
                            facts.committee_meeting_id if purpose == "committee_support" else None
                        ),
                    },
                    idempotency_key=f"{key}-v{number}-complete",
                )
                self.count("advisory: complete visit")
                self.tally.advisory_days += days
            self.tally.visits[visit["status"]] += 1
            self.tally.events += int(visit["version"])


def _window_end(following: date | None, today: date) -> date:
    """The last day of a cycle's work: the day before the next assessment, or yesterday."""
    end = today - timedelta(days=1)
    if following is not None:
        end = min(end, following - timedelta(days=1))
    return end


def _training_days(
    rng: random.Random, course: Course, window: tuple[date, date]
) -> tuple[date, ...] | None:
    """A session's training days within `window`: a day a week for a course of three days or
    more half of the time (as the Supervisory Skills Training is often given), consecutive days
    otherwise; None when they do not fit."""
    weekly = course.duration_days >= 3 and rng.random() < 0.5
    step = 7 if weekly else 1
    span = (course.duration_days - 1) * step
    latest = (window[1] - window[0]).days - span
    if latest < 0:
        return None
    first = window[0] + timedelta(days=rng.randint(0, latest))
    return tuple(first + timedelta(days=day * step) for day in range(course.duration_days))


def _mix(
    rng: random.Random, pool: Pool, course: Course, size: int, *, open_: bool = False
) -> list[Participant]:
    """A session's participants from the course's audience, in a garment factory's proportions:
    workers most, then supervisors, then committee members and managers."""
    weights = {"worker": 6.0, "supervisor": 3.0, "committee_member": 1.2, "manager": 0.8}
    if open_:  # open sessions gather a few people of each factory: its managers and committee
        weights = {"worker": 1.0, "supervisor": 1.5, "committee_member": 2.0, "manager": 2.0}
    roles = [role for role in course.audience_roles if role in weights]
    if not roles:
        return []
    total = sum(weights[role] for role in roles)
    people: list[Participant] = []
    for role in roles:
        count = max(1, round(size * weights[role] / total))
        people += pool.draw(rng, role, count)
    return people

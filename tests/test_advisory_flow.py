"""Issue 18, done when: a course from the catalogue, a session delivered at a factory with a bulk
sign-in sheet, pre and post surveys, an advisory visit linked to two plan items; then the
factory's shared buyer sees the summary in its portfolio and receives the public events as signed
webhooks, another buyer sees nothing (no webhook, a 404, absent from its portfolio), remediation
shows the capacity building on the items, and the programme figures count the participants; bad
input is a 4xx that changes nothing.

The five services in this process (`SERVICE.app(settings)`, each migrated, one database with their
own schemas, one subject prefix, real PostgreSQL and NATS), a webhook receiver on 127.0.0.1 that
verifies every Standard Webhooks signature (tools/demo/receiver.py). The programme is played once
for the module (`played`); each test checks what one service shows of it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import httpx
import nats
import pytest
from asgi_lifespan import LifespanManager

from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from libs.servicekit.service import ServiceDefinition
from services.advisory.service import SERVICE as ADVISORY
from services.assessment.compliance_catalogue import load_library
from services.assessment.service import SERVICE as ASSESSMENT
from services.buyer_sharing.service import SERVICE as BUYER_SHARING
from services.notifications.service import SERVICE as NOTIFICATIONS
from services.remediation.service import SERVICE as REMEDIATION
from tools.demo.receiver import WebhookReceiver
from tools.postgres_admin import create_database, drop_database, with_database
from tools.testing import NATS_TIMEOUT, delete_streams, stream_name_prefix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

T = TypeVar("T")
SECRET = "advisory-flow-tests-secret-of-at-least-32-bytes"
_CATALOGUE = load_library().resolve("2025.1", "KH")
assert _CATALOGUE is not None
CRITICAL_QUESTIONS = sorted(_CATALOGUE.critical_question_ids)
ADVISORY_EVENTS = ["TrainingSessionDelivered", "AdvisoryVisitCompleted"]
COURSE = "OSH"  # two training days
SHEET = 12  # participants on the sign-in sheet; the last one came on the first day only
SURVEYED = 8  # of them, with a form before and after (a result is shown from 5 pairs)
VISIT_DAYS = 1.5
TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=10)
DAYS = [START.isoformat(), (START + timedelta(days=1)).isoformat()]


def headers(role: Role, subject: str | None = None, **claims: Any) -> dict[str, str]:
    token = mint_token(SECRET, subject or f"{role}-user", role, **claims)
    return {"Authorization": f"Bearer {token}"}


ADMIN = headers(Role.ADMIN, countries="*")
ASSESSOR = headers(Role.ASSESSOR, "advisor-sok", countries=["KH"])
TRAINER = headers(Role.TRAINER, "trainer-vanna", countries=["KH"])
BUYER_A, BUYER_B = (headers(Role.BUYER, buyer_id=b) for b in ("brand-a", "brand-b"))


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """`check()`'s result once it stops failing its assertions; its last failure otherwise."""
    failure: AssertionError | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    return await check()
                except AssertionError as error:
                    failure = error
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise failure or AssertionError("never checked") from None


@dataclass
class System:
    http: dict[str, httpx.AsyncClient]
    receiver: WebhookReceiver

    def __getitem__(self, service: str) -> httpx.AsyncClient:
        return self.http[service]


@pytest.fixture(scope="module")
async def system(pg_server_url: str, nats_server_url: str) -> AsyncIterator[System]:
    """The five services in this process on a database and subject prefix of this module's."""
    database, prefix = f"t_{uuid.uuid4().hex[:12]}", f"t{uuid.uuid4().hex[:8]}."
    await create_database(pg_server_url, database)
    database_url = with_database(pg_server_url, database)
    common: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_server_url,
        "BW_SUBJECT_PREFIX": prefix,
        "BW_JWT_SECRET": SECRET,
    }
    own: dict[str, dict[str, Any]] = {
        "assessment": {},
        "remediation": {"BW_REMEDIATION_SCHEDULER_ENABLED": False},
        "buyer_sharing": {"BW_CONSENT_WATERMARK_SECONDS": 0.5},
        "notifications": {
            "BW_WEBHOOK_ALLOW": "127.0.0.0/8",
            "BW_WEBHOOK_ALLOW_HTTP": True,
            "BW_WEBHOOK_POLL_SECONDS": 0.1,
        },
        # one factory's training is public here (a figure needs three by default)
        "advisory": {"BW_ADVISORY_FIGURES_MIN_FACTORIES": 1},
    }
    definitions: tuple[ServiceDefinition[Any, Any], ...] = (
        ASSESSMENT, REMEDIATION, BUYER_SHARING, NOTIFICATIONS, ADVISORY
    )  # fmt: skip
    try:
        for definition in definitions:
            await asyncio.to_thread(
                run_migrations, database_url, definition.migrations, definition.schema
            )
        async with AsyncExitStack() as stack:
            http: dict[str, httpx.AsyncClient] = {}
            for definition in definitions:
                app = definition.app(definition.settings(**common, **own[definition.name]))
                await stack.enter_async_context(LifespanManager(app, startup_timeout=60))
                http[definition.name] = await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url=f"http://{definition.name}"
                    )
                )
            receiver = await stack.enter_async_context(WebhookReceiver())
            yield System(http, receiver)
    finally:
        await drop_database(pg_server_url, database)
        with contextlib.suppress(OSError, TimeoutError, nats.errors.Error):
            await asyncio.wait_for(
                delete_streams(nats_server_url, stream_name_prefix(prefix)), NATS_TIMEOUT * 4
            )


@dataclass
class Played:
    factory_a: str = ""
    factory_b: str = ""
    items: list[str] = field(default_factory=list)  # factory A's plan items
    meeting_id: str = ""
    session_id: str = ""
    visit_id: str = ""
    completions: int = 0
    # the buyers' webhook endpoints as notifications answered their registration
    endpoints: dict[str, httpx.Response] = field(default_factory=dict)


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> Any:
    answer = await response
    assert answer.status_code == status, answer.text
    return answer.json()


async def register_factory(system: System, name: str) -> str:
    factory = await ok(
        system["assessment"].post(
            "/v1/factories",
            json={"name": name, "country": "KH", "address": "Street 2004, Phnom Penh",
                  "sector_isic": "1410", "workforce": {"women": 800, "men": 200}},
            headers=ASSESSOR,
        ),
        201,
    )  # fmt: skip
    return str(factory["factory_id"])


async def assess_with_two_critical_issues(system: System, factory_id: str) -> list[str]:
    """A completed assessment of the factory with two critical non-compliances: its plan items."""
    assessment = system["assessment"]
    scheduled = await ok(
        assessment.post(
            "/v1/assessments",
            json={"factory_id": factory_id, "scheduled_for": TODAY.isoformat(),
                  "assessors": ["advisor-sok", "advisor-dara"]},
            headers=ASSESSOR,
        ),
        201,
    )  # fmt: skip
    path = f"/v1/assessments/{scheduled['assessment_id']}"
    findings = [
        {"question_id": q, "result": "non_compliant" if q in CRITICAL_QUESTIONS[:2] else
         "compliant", "evidence": "seen on site"}
        for q in CRITICAL_QUESTIONS
    ]  # fmt: skip
    await ok(assessment.post(f"{path}/findings", json={"findings": findings}, headers=ASSESSOR))
    await ok(assessment.post(f"{path}/complete", headers=ASSESSOR))
    own = headers(Role.FACTORY, factory_id=factory_id)

    async def items() -> list[str]:
        page = await ok(
            system["remediation"].get(f"/v1/improvement-plans/{factory_id}/items", headers=own)
        )
        assert len(page["items"]) == 2
        return sorted(item["item_id"] for item in page["items"])

    return await eventually(items)


async def endorsing_meeting(system: System, factory_id: str) -> str:
    """The factory's committee (two members a side) and a meeting that endorses the plan."""
    own = headers(Role.FACTORY, factory_id=factory_id)
    remediation = system["remediation"]
    members = [{"name": f"Member {n}", "side": side} for n, side in enumerate(("management",
               "management", "worker", "worker"))]  # fmt: skip
    committee = await ok(
        remediation.put(
            f"/v1/committees/{factory_id}/members", json={"members": members}, headers=own
        )
    )
    meeting = await ok(
        remediation.post(
            f"/v1/committees/{factory_id}/meetings",
            json={"held_on": TODAY.isoformat(),
                  "attendees": [m["member_id"] for m in committee["members"]],
                  "decisions": ["endorse the plan"], "endorses_plan": True},
            headers=own,
        ),
        201,
    )  # fmt: skip
    return str(meeting["meetings"][-1]["meeting_id"])


async def share_with_buyer(system: System, factory_id: str, buyer_id: str, path: str) -> Any:
    """The buyer registered, the factory's grant, and the buyer's endpoint for the advisory
    events (notifications' answer, whatever it is: the webhook test judges it)."""
    sharing = system["buyer_sharing"]
    await ok(
        sharing.post(
            "/v1/buyers",
            json={"buyer_id": buyer_id, "name": buyer_id.title(), "country": "DE",
                  "contact_name": "Sourcing", "contact_email": f"sourcing@{buyer_id}.example"},
            headers=ADMIN,
        ),
        201,
    )  # fmt: skip
    await ok(
        sharing.post(
            "/v1/sharing-grants",
            json={"buyer_id": buyer_id},
            headers=headers(Role.FACTORY, factory_id=factory_id),
        ),
        201,
    )
    endpoint = await system["notifications"].post(
        "/v1/webhook-endpoints",
        json={"url": system.receiver.url(path), "event_types": ADVISORY_EVENTS},
        headers=headers(Role.BUYER, buyer_id=buyer_id),
    )
    if endpoint.status_code == 201:
        system.receiver.expect(path, endpoint.json()["secret"])
    return endpoint


async def advisory_knows(system: System, *factory_ids: str) -> None:
    """The advisory service learnt of the factories from the assessment service's events."""

    async def known() -> None:
        for factory_id in factory_ids:
            days = await system["advisory"].get(
                f"/v1/advisory-visits/days?factory_id={factory_id}", headers=TRAINER
            )
            assert days.status_code == 200, days.text

    await eventually(known)


def attendee(n: int, days: list[str], factory_id: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "participant_id": f"p-{n:03d}",
        "role": ("worker", "supervisor", "committee_member", "manager")[n % 4],
        "gender": ("female", "female", "male")[n % 3],
        "attended_on": days,
    }
    if factory_id is not None:
        line["factory_id"] = factory_id
    return line


def form(n: int, phase: str, survey: dict[str, Any]) -> dict[str, Any]:
    """Before: 2 or 3 on each item; after: a point or two better."""
    before = {item["item_id"]: 2 + (n + i) % 2 for i, item in enumerate(survey["items"])}
    answers = before if phase == "pre" else {k: v + 1 + (n % 3 == 0) for k, v in before.items()}
    return {"participant_id": f"p-{n:03d}", "phase": phase,
            "survey_version": survey["survey_version"], "answers": answers}  # fmt: skip


@pytest.fixture(scope="module")
async def played(system: System) -> Played:
    """Factory A, assessed (two plan items), its committee's endorsing meeting, shared with
    brand-a; factory B shared with brand-b; both buyers' endpoints for the advisory events. Then
    the programme's work at A: the catalogue's OSH course with a survey, a session for A's first
    item with a sign-in sheet of 12 in one request, 8 forms before and after, delivered; a visit
    for both items and the meeting, completed."""
    out = Played()
    out.factory_a = await register_factory(system, "Mekong Garments")
    out.factory_b = await register_factory(system, "Tonle Sap Textiles")
    out.items = await assess_with_two_critical_issues(system, out.factory_a)
    out.meeting_id = await endorsing_meeting(system, out.factory_a)
    out.endpoints["brand-a"] = await share_with_buyer(system, out.factory_a, "brand-a", "/a")
    out.endpoints["brand-b"] = await share_with_buyer(system, out.factory_b, "brand-b", "/b")
    await advisory_knows(system, out.factory_a, out.factory_b)
    advisory = system["advisory"]

    catalogue = await ok(advisory.get("/v1/courses", headers=ADMIN))
    course = next(c for c in catalogue["items"] if c["code"] == COURSE)
    assert course["duration_days"] == len(DAYS)
    survey = await ok(
        advisory.post(
            "/v1/surveys",
            json={"course_code": COURSE, "title": "Safety at work, before and after",
                  "items": [{"item_id": "hazards", "text": "I know my work's hazards."},
                            {"item_id": "exits", "text": "I know the way to the exits."}]},
            headers=ADMIN,
        ),
        201,
    )  # fmt: skip
    session = await ok(
        advisory.post(
            "/v1/training-sessions",
            json={"course_code": COURSE,
                  "factories": [{"factory_id": out.factory_a, "plan_item_ids": out.items[:1]}],
                  "start_date": DAYS[0], "end_date": DAYS[-1], "capacity": SHEET,
                  "language": "km", "survey_id": survey["survey_id"]},
            headers=TRAINER,
        ),
        201,
    )  # fmt: skip
    out.session_id = session["session_id"]
    path = f"/v1/training-sessions/{out.session_id}"
    sheet = [attendee(n, DAYS if n < SHEET - 1 else DAYS[:1]) for n in range(SHEET)]
    signed = await ok(advisory.post(f"{path}/attendance", json={"attendees": sheet},
                                    headers=TRAINER))  # fmt: skip
    assert (signed["participants"], signed["completions"]) == (SHEET, SHEET - 1)
    out.completions = signed["completions"]
    for phase in ("pre", "post"):
        forms = [form(n, phase, survey) for n in range(SURVEYED)]
        await ok(
            advisory.post(f"{path}/survey-responses", json={"responses": forms}, headers=TRAINER)
        )
    delivered = await ok(advisory.post(f"{path}/delivery", headers=TRAINER))
    assert delivered["status"] == "delivered"

    visit = await ok(
        advisory.post(
            "/v1/advisory-visits",
            json={"factory_id": out.factory_a, "planned_for": TODAY.isoformat(),
                  "purpose": "improvement_plan"},
            headers=ASSESSOR,
        ),
        201,
    )  # fmt: skip
    out.visit_id = visit["visit_id"]
    await ok(
        advisory.post(
            f"/v1/advisory-visits/{out.visit_id}/completion",
            json={"visited_on": TODAY.isoformat(), "duration_days": VISIT_DAYS,
                  "notes": "Private: the manager was absent.", "plan_item_ids": out.items,
                  "committee_meeting_id": out.meeting_id},
            headers=ASSESSOR,
        )
    )  # fmt: skip
    return out


def expected_groups() -> list[dict[str, Any]]:
    """The sign-in sheet's participants and completions by role and gender."""
    groups: dict[tuple[str, str], list[int]] = {}
    for n in range(SHEET):
        line = attendee(n, DAYS)
        counts = groups.setdefault((line["role"], line["gender"]), [0, 0])
        counts[0] += 1
        counts[1] += n < SHEET - 1
    return [
        {"role": role, "gender": gender, "participants": p, "completions": c}
        for (role, gender), (p, c) in sorted(groups.items())
    ]


def by_group(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(groups, key=lambda group: (group["role"], group["gender"]))


async def test_remediation_shows_the_session_and_the_visit_on_the_plan_items(
    system: System, played: Played
) -> None:
    remediation = system["remediation"]
    factory = played.factory_a
    first, second = played.items

    async def shown() -> dict[str, list[dict[str, Any]]]:
        page = await ok(
            remediation.get(
                f"/v1/improvement-plans/{factory}/items",
                headers=headers(Role.FACTORY, factory_id=factory),
            )
        )
        found = {item["item_id"]: item["capacity_building"] for item in page["items"]}
        assert sorted(entry["kind"] for entry in found[first]) == ["session", "visit"]
        assert [entry["kind"] for entry in found[second]] == ["visit"]
        return found

    found = await eventually(shown)
    session = next(entry for entry in found[first] if entry["kind"] == "session")
    assert session == {
        "kind": "session", "source_id": played.session_id, "start_date": DAYS[0],
        "end_date": DAYS[-1], "course_code": COURSE,
        "course_title": "Occupational safety and health", "purpose": None, "days": len(DAYS),
        "participants": SHEET, "completions": SHEET - 1, "committee_meeting_id": None,
    }  # fmt: skip
    for item_id in played.items:
        (visit,) = [entry for entry in found[item_id] if entry["kind"] == "visit"]
        assert visit == {
            "kind": "visit", "source_id": played.visit_id, "start_date": TODAY.isoformat(),
            "end_date": TODAY.isoformat(), "course_code": None, "course_title": None,
            "purpose": "improvement_plan", "days": VISIT_DAYS, "participants": None,
            "completions": None, "committee_meeting_id": played.meeting_id,
        }  # fmt: skip
    # the same item as staff of the country programme; another programme's staff: a 404
    item = await ok(
        remediation.get(f"/v1/improvement-plans/{factory}/items/{second}", headers=ASSESSOR)
    )
    assert item["capacity_building"] == found[second]
    elsewhere = await remediation.get(
        f"/v1/improvement-plans/{factory}/items/{second}",
        headers=headers(Role.ASSESSOR, countries=["VN"]),
    )
    assert elsewhere.status_code == 404


async def test_the_programme_figures_count_the_participants(system: System, played: Played) -> None:
    advisory = system["advisory"]
    figures = await ok(advisory.get("/v1/training-sessions/figures?country=KH"))  # public
    assert figures["figures"] == [
        {"year": START.year, "country": "KH", "participants": SHEET, "completions": played.completions,
         "cumulative_participants": SHEET, "cumulative_completions": played.completions,
         "suppressed": False, "cumulative_suppressed": False}
    ]  # fmt: skip
    by_course = await ok(advisory.get("/v1/training-sessions/figures?country=KH&by=course_code"))
    assert [(row["course_code"], row["participants"]) for row in by_course["figures"]] == [
        (COURSE, SHEET)
    ]
    # the surveys before and after: a positive change over the 8 pairs, with its interval
    results = await ok(advisory.get(f"/v1/surveys/results?course_code={COURSE}", headers=ADMIN))
    (result,) = results["results"]
    assert (result["country"], result["year"], result["pairs"]) == ("KH", START.year, SURVEYED)
    assert 0 < result["ci95_low"] <= result["mean_change"] <= result["ci95_high"]
    # the visit's advisory days, in the cycle of the factory's report
    days = await ok(
        advisory.get(f"/v1/advisory-visits/days?factory_id={played.factory_a}", headers=ASSESSOR)
    )
    assert days["cycles"] == [
        {"cycle": 1, "report_date": TODAY.isoformat(), "visits": 1, "days": VISIT_DAYS}
    ]


async def test_the_shared_buyer_sees_the_summary_and_another_buyer_nothing(
    system: System, played: Played
) -> None:
    sharing = system["buyer_sharing"]
    factory = played.factory_a

    async def summary() -> dict[str, Any]:
        page = await ok(sharing.get("/v1/buyers/brand-a/factories", headers=BUYER_A))
        (entry,) = [e for e in page["items"] if e["factory_id"] == factory]
        found: dict[str, Any] = entry["training_and_advisory"]
        assert (found["training"]["sessions"], found["advisory"]["visits"]) == (1, 1)
        return found

    assert await eventually(summary) == {
        "training": {"sessions": 1, "participants": SHEET, "completions": played.completions,
                     "training_days": len(DAYS),
                     "latest": {"course_code": COURSE,
                                "course_title": "Occupational safety and health",
                                "started_on": DAYS[0]}},
        "advisory": {"visits": 1, "advisory_days": VISIT_DAYS,
                     "latest_visit_on": TODAY.isoformat()},
    }  # fmt: skip
    detail = await sharing.get(f"/v1/buyers/brand-a/factories/{factory}", headers=BUYER_A)
    assert detail.status_code == 200, detail.text
    summary_by_year = detail.json()["training_and_advisory"]
    assert summary_by_year["training_by_course_and_year"] == [
        {"year": START.year, "course_code": COURSE,
         "course_title": "Occupational safety and health", "sessions": 1,
         "participants": SHEET, "completions": played.completions, "training_days": len(DAYS)}
    ]  # fmt: skip
    assert summary_by_year["advisory_by_year"] == [
        {"year": TODAY.year, "visits": 1, "advisory_days": VISIT_DAYS}
    ]
    # counts only: no participant, name or visit note reaches a buyer
    assert "p-000" not in detail.text and "Private" not in detail.text

    # brand-b has factory B's grant, not A's: A is absent from its portfolio and CSV, a 404
    page = await ok(sharing.get("/v1/buyers/brand-b/factories", headers=BUYER_B))
    assert factory not in {entry["factory_id"] for entry in page["items"]}
    csv = await sharing.get("/v1/buyers/brand-b/factories.csv", headers=BUYER_B)
    assert csv.status_code == 200 and factory not in csv.text
    for path in (f"/v1/buyers/brand-b/factories/{factory}", f"/v1/buyers/brand-b/factories/"
                 f"{factory}/reports"):  # fmt: skip
        hidden = await sharing.get(path, headers=BUYER_B)
        assert hidden.status_code == 404, hidden.text


async def test_the_shared_buyer_receives_the_public_events_as_signed_webhooks(
    system: System, played: Played
) -> None:
    for buyer_id, endpoint in played.endpoints.items():
        assert endpoint.status_code == 201, (
            f"{buyer_id}'s endpoint for {ADVISORY_EVENTS}: {endpoint.status_code} {endpoint.text}"
        )
    receiver = system.receiver
    await receiver.wait_for(lambda: sorted(receiver.names("/a")) == sorted(ADVISORY_EVENTS), 30)
    assert not receiver.rejected  # every request carried a valid signature
    events = {delivery.event_name: delivery.event for delivery in receiver.applied["/a"]}
    for event in events.values():
        assert event["subject"] == played.factory_a
        assert not {"streamid", "streamversion"} & set(event)  # no stream positions for buyers
    session = events["TrainingSessionDelivered"]["data"]
    assert by_group(session.pop("groups")) == expected_groups()
    assert session == {
        "session_id": played.session_id, "factory_id": played.factory_a, "country": "KH",
        "course_code": COURSE, "course_version": 1,
        "course_title": "Occupational safety and health", "open_session": False,
        "start_date": DAYS[0], "end_date": DAYS[-1], "training_days": len(DAYS),
        "language": "km", "plan_item_ids": played.items[:1], "participants": SHEET,
        "completions": played.completions, "delivered_on": TODAY.isoformat(),
    }  # fmt: skip
    assert events["AdvisoryVisitCompleted"]["data"] == {
        "visit_id": played.visit_id, "factory_id": played.factory_a, "country": "KH",
        "visited_on": TODAY.isoformat(), "duration_days": VISIT_DAYS,
        "purpose": "improvement_plan", "plan_item_ids": played.items,
        "committee_meeting_id": played.meeting_id,
    }  # fmt: skip
    # brand-b, whose endpoint asked for the same types, got nothing of factory A: neither a
    # webhook nor a message in its log
    assert receiver.names("/b") == []
    log = await ok(
        system["notifications"].get(
            f"/v1/messages?endpoint_id={played.endpoints['brand-b'].json()['endpoint_id']}",
            headers=BUYER_B,
        )
    )
    assert log["items"] == []


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(f"/{slug}"), response.text


async def test_bad_input_is_a_4xx_that_changes_nothing(system: System, played: Played) -> None:
    advisory = system["advisory"]
    factory = played.factory_a
    sessions = f"/v1/training-sessions?factory_id={factory}"
    listed = await ok(advisory.get(sessions, headers=TRAINER))
    plan = {"factories": [{"factory_id": factory}], "start_date": DAYS[0], "end_date": DAYS[-1],
            "capacity": 3, "language": "km"}  # fmt: skip
    unknown = await advisory.post(
        "/v1/training-sessions", json={**plan, "course_code": "NO-SUCH-COURSE"}, headers=TRAINER
    )
    assert_problem(unknown, 422, "unknown-course")
    backwards = {**plan, "course_code": COURSE, "end_date": (START - timedelta(1)).isoformat()}
    reversed_dates = await advisory.post("/v1/training-sessions", json=backwards, headers=TRAINER)
    assert_problem(reversed_dates, 422, "date-out-of-range")
    assert await ok(advisory.get(sessions, headers=TRAINER)) == listed

    # a session for 3 with two participants signed for its first day
    created = await ok(
        advisory.post("/v1/training-sessions", json={**plan, "course_code": COURSE},
                      headers=TRAINER),
        201,
    )  # fmt: skip
    path = f"/v1/training-sessions/{created['session_id']}"
    await ok(
        advisory.post(
            f"{path}/attendance",
            json={"attendees": [attendee(100, DAYS[:1]), attendee(101, DAYS[:1])]},
            headers=TRAINER,
        )
    )

    async def state() -> tuple[Any, Any]:
        return (
            await ok(advisory.get(path, headers=TRAINER)),
            await ok(advisory.get(f"{path}/attendance", headers=TRAINER)),
        )

    before = await state()
    after_the_end = (date.fromisoformat(DAYS[-1]) + timedelta(days=1)).isoformat()
    refused = {
        "over-capacity": (409, [attendee(102, DAYS), attendee(103, DAYS)]),
        "duplicate-attendance": (409, [attendee(100, DAYS[:1])]),
        "participant-of-another-factory": (422, [attendee(104, DAYS, played.factory_b)]),
        "date-out-of-range": (422, [attendee(105, [after_the_end])]),
    }
    for slug, (status, lines) in refused.items():
        answer = await advisory.post(
            f"{path}/attendance", json={"attendees": lines}, headers=TRAINER
        )
        assert_problem(answer, status, slug)
        assert await state() == before, slug
    # a visit completed for a day still to come
    visit = await ok(
        advisory.post(
            "/v1/advisory-visits",
            json={"factory_id": factory, "planned_for": TODAY.isoformat(), "purpose": "other"},
            headers=ASSESSOR,
        ),
        201,
    )  # fmt: skip
    visit_path = f"/v1/advisory-visits/{visit['visit_id']}"
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    early = await advisory.post(
        f"{visit_path}/completion",
        json={"visited_on": tomorrow, "duration_days": 1, "plan_item_ids": played.items},
        headers=ASSESSOR,
    )
    assert_problem(early, 422, "date-out-of-range")
    assert await ok(advisory.get(visit_path, headers=ASSESSOR)) == visit

    # and nothing of it reached the other services: the plan's items show the one session and
    # visit, the buyer's summary counts them once
    own = headers(Role.FACTORY, factory_id=factory)
    page = await ok(system["remediation"].get(f"/v1/improvement-plans/{factory}/items",
                                              headers=own))  # fmt: skip
    sources = {entry["source_id"] for item in page["items"] for entry in item["capacity_building"]}
    assert sources <= {played.session_id, played.visit_id}

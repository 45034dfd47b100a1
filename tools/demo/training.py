"""The story's chapters about the programme's other half (issue 18, docs/advisory.md): an admin
picks a course from the catalogue; a trainer of the factory's country programme schedules a
session at the factory for the critical plan item, enters the whole sign-in sheet in one
request, the survey forms before and after, and delivers it; an assessor, as the factory's
enterprise advisor, plans and completes a visit for two plan items and the committee's meeting.
The buyer receives the public events as signed webhooks. Then what each sees of it: the buyer its
training and advisory summary (buyer sharing), remediation the capacity building on the plan's
items, and everyone the public programme figures."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from libs.servicekit.auth import Role
from tools.demo.common import StoryError, only, today
from tools.demo.stage import Stage

CAPACITY = 20
# the sign-in sheet: a pseudonymous id per participant (the factory's own), a role of the
# course's audience, a gender; the last participant missed the days after the first
SHEET_SIZE = 12
GENDERS = ("female", "female", "female", "male")
SURVEYED = 8  # participants who fill in the form before and after (the results need 5 pairs)
SURVEY = {
    "title": "Before and after the course",
    "items": [
        {"item_id": "rights-1", "text": "I know what to do when my rights at work are not respected."},
        {"item_id": "voice-1", "text": "I can raise a problem with my supervisor without fear."},
        {"item_id": "safety-1", "text": "I know the hazards of my work and how to avoid them."},
    ],
    "scale_points": 5,
}  # fmt: skip
# what the public events may carry: counts and ids, never a participant, name, answer or note
SESSION_FIELDS = {
    "session_id", "factory_id", "country", "course_code", "course_version", "course_title",
    "open_session", "start_date", "end_date", "training_days", "language", "plan_item_ids",
    "participants", "completions", "groups", "delivered_on",
}  # fmt: skip
VISIT_FIELDS = {
    "visit_id", "factory_id", "country", "visited_on", "duration_days", "purpose",
    "plan_item_ids", "committee_meeting_id",
}  # fmt: skip
VISIT_DAYS = 1.5


async def train_the_factory(story: Stage, admin: dict[str, str], cluster: str) -> None:
    out = story.outcome
    story.say("story", "10. The programme trains the factory's staff: an admin picks a course "
              "from the catalogue; a trainer of the country programme schedules a session, "
              "enters the sign-in sheet and the surveys, and delivers it")  # fmt: skip
    course = await _pick_course(story, admin, cluster)
    survey = await _course_survey(story, admin, course["code"])
    trainer = story.token(Role.TRAINER, "trainer-vanna", countries=[out.country])
    await _advisory_knows_the_factory(story, trainer)

    days = int(course["duration_days"])
    start = today() - timedelta(days=days + 1)  # it ended the day before yesterday
    end = start + timedelta(days=days - 1)
    session = await story.call(
        "trainer", trainer, "advisory", "POST", "/v1/training-sessions", expect=201,
        body={"course_code": course["code"],
              "factories": [{"factory_id": out.factory_id, "plan_item_ids": [out.critical_item]}],
              "start_date": start.isoformat(), "end_date": end.isoformat(),
              "capacity": CAPACITY, "language": "km", "survey_id": survey["survey_id"]},
    )  # fmt: skip
    out.session_id = session_id = session["session_id"]
    path = f"/v1/training-sessions/{session_id}"
    story.say("advisory", f"session {session_id}: {session['course_title']} at the factory, "
              f"{start}..{end}, capacity {CAPACITY}, for plan item {out.critical_item}")  # fmt: skip

    every_day = [(start + timedelta(days=n)).isoformat() for n in range(days)]
    roles = course["audience_roles"]
    sheet = [
        {"participant_id": f"p{n:03d}", "role": roles[n % len(roles)],
         "gender": GENDERS[n % len(GENDERS)],
         "attended_on": every_day[:1] if n == SHEET_SIZE - 1 else every_day}
        for n in range(SHEET_SIZE)
    ]  # fmt: skip
    signed = await story.call(
        "trainer", trainer, "advisory", "POST", f"{path}/attendance", body={"attendees": sheet}
    )
    groups = Counter(line["role"] for line in sheet)
    story.say("advisory", f"sign-in sheet of {len(sheet)} lines in one request "
              f"({', '.join(f'{n} {role}' for role, n in groups.items())}): "
              f"{signed['participants']} participants, {signed['completions']} attended "
              "every day")  # fmt: skip
    if signed["participants"] != SHEET_SIZE:
        raise StoryError(f"the session counts {signed['participants']} participants")

    items = [item["item_id"] for item in survey["items"]]
    scale = int(survey["scale_points"])
    for phase in ("pre", "post"):
        forms = [
            {"participant_id": f"p{n:03d}", "phase": phase,
             "survey_version": survey["survey_version"],
             "answers": {item: _answer(n, i, phase, scale) for i, item in enumerate(items)}}
            for n in range(SURVEYED)
        ]  # fmt: skip
        await story.call(
            "trainer", trainer, "advisory", "POST", f"{path}/survey-responses",
            body={"responses": forms},
        )  # fmt: skip
    result = await story.call("trainer", trainer, "advisory", "GET", f"{path}/survey-results")
    if result["suppressed"] or not result["mean_change"] or result["mean_change"] <= 0:
        raise StoryError(f"the session's survey result is not a positive change: {result}")
    story.say("advisory", f"surveys before and after: {result['pairs']} pairs, mean change "
              f"{result['mean_change']:+.2f} points (95% CI {result['ci95_low']:+.2f} to "
              f"{result['ci95_high']:+.2f})")  # fmt: skip

    since = story.mark()
    delivered = await story.call("trainer", trainer, "advisory", "POST", f"{path}/delivery")
    story.say("advisory", f"session {delivered['status']} on {delivered['delivered_on']}: "
              f"{delivered['participants']} participants, {delivered['completions']} "
              "completions")  # fmt: skip
    out.training_participants = int(delivered["participants"])
    out.training_completions = int(delivered["completions"])
    out.training_year = start.year
    delivery = only(
        await story.webhooks("the training's webhook", since, TrainingSessionDelivered=1),
        "TrainingSessionDelivered",
    )
    _check_counts_only(delivery.event["data"], SESSION_FIELDS)


async def advisory_visit(story: Stage, advisor: dict[str, str]) -> None:
    out = story.outcome
    items = [out.critical_item, out.other_item]
    story.say("story", "11. An enterprise advisor visits the factory: two plan items and the "
              "committee's meeting")  # fmt: skip
    planned = await story.call(
        "advisor", advisor, "advisory", "POST", "/v1/advisory-visits", expect=201,
        body={"factory_id": out.factory_id, "planned_for": today().isoformat(),
              "purpose": "improvement_plan",
              "description": "Follow up the plan with the committee"},
    )  # fmt: skip
    out.visit_id = visit_id = planned["visit_id"]
    since = story.mark()
    completed = await story.call(
        "advisor", advisor, "advisory", "POST", f"/v1/advisory-visits/{visit_id}/completion",
        body={"visited_on": today().isoformat(), "duration_days": VISIT_DAYS,
              "notes": "Walked line 4 with the committee; guards refitted, checklist agreed.",
              "plan_item_ids": items, "committee_meeting_id": out.committee_meeting_id},
    )  # fmt: skip
    story.say("advisory", f"visit {visit_id} {completed['status']}: {completed['duration_days']} "
              f"day(s) on items {completed['plan_item_ids']} and meeting "
              f"{completed['committee_meeting_id']} (the notes stay with the programme)")  # fmt: skip
    days = await story.call(
        "advisor", advisor, "advisory", "GET", f"/v1/advisory-visits/days?factory_id={out.factory_id}"
    )  # fmt: skip
    for cycle in days["cycles"]:
        story.say("advisory", f"cycle {cycle['cycle']} (report of {cycle['report_date']}): "
                  f"{cycle['visits']} visit(s), {cycle['days']} advisory day(s)")  # fmt: skip
    delivery = only(
        await story.webhooks("the visit's webhook", since, AdvisoryVisitCompleted=1),
        "AdvisoryVisitCompleted",
    )
    _check_counts_only(delivery.event["data"], VISIT_FIELDS)


async def what_everyone_sees(
    story: Stage, buyer: dict[str, str], own_factory: dict[str, str]
) -> None:
    story.say("story", "13. What each sees of the training and the visit")
    await _capacity_building(story, own_factory)
    await _buyer_summary(story, buyer)
    await _figures(story)


async def _pick_course(story: Stage, admin: dict[str, str], cluster: str) -> dict[str, Any]:
    """A course whose topics cover the critical finding's cluster (else the catalogue's first)."""
    for query in (f"?topic={cluster}", ""):
        page = await story.call("admin", admin, "advisory", "GET", f"/v1/courses{query}")
        if page["items"]:
            course: dict[str, Any] = page["items"][0]
            story.say("advisory", f"course {course['code']} (version {course['course_version']}): "
                      f"{course['title']}, {course['duration_days']} day(s) for "
                      f"{', '.join(course['audience_roles'])}; topics "
                      f"{', '.join(course['topics'])}")  # fmt: skip
            return course
    raise StoryError("the course catalogue is empty")


async def _course_survey(story: Stage, admin: dict[str, str], course_code: str) -> dict[str, Any]:
    """The course's outcome survey: the first instrument it has, else one the admin publishes."""
    page = await story.call(
        "admin", admin, "advisory", "GET", f"/v1/surveys?course_code={course_code}"
    )
    survey: dict[str, Any]
    if page["items"]:
        survey = page["items"][0]
    else:
        survey = await story.call(
            "admin", admin, "advisory", "POST", "/v1/surveys", expect=201,
            body={"course_code": course_code, **SURVEY},
        )  # fmt: skip
    story.say("advisory", f"survey {survey['survey_id']} '{survey['title']}': "
              f"{len(survey['items'])} items on a {survey['scale_points']}-point scale")  # fmt: skip
    return survey


async def _advisory_knows_the_factory(story: Stage, staff: dict[str, str]) -> None:
    """The advisory service learns of factories from the assessment service's events: wait for
    this one (a session for a factory it does not know yet is a 404, as for another country's)."""
    out = story.outcome

    async def known() -> bool:
        response = await story.request(
            staff, "advisory", "GET", f"/v1/advisory-visits/days?factory_id={out.factory_id}"
        )
        return response.status_code == 200

    await story.eventually("the factory in the advisory service", known)


async def _capacity_building(story: Stage, own_factory: dict[str, str]) -> None:
    out = story.outcome
    wanted = {out.critical_item: {"session", "visit"}, out.other_item: {"visit"}}

    async def items() -> dict[str, list[dict[str, Any]]] | None:
        page = await story.call(
            "factory", own_factory, "remediation", "GET",
            f"/v1/improvement-plans/{out.factory_id}/items", quiet=True,
        )  # fmt: skip
        found = {item["item_id"]: item["capacity_building"] for item in page["items"]}
        kinds = {item_id: {entry["kind"] for entry in found.get(item_id, [])} for item_id in wanted}
        return found if kinds == wanted else None

    found = await story.eventually("the capacity building on the plan's items", items)
    story.say("factory", f"GET remediation/v1/improvement-plans/{out.factory_id}/items → 200")
    for item_id, entries in found.items():
        for entry in entries:
            if entry["kind"] == "session":
                what = (f"session {entry['course_code']} {entry['start_date']}..{entry['end_date']}"
                        f", {entry['participants']} participants, {entry['completions']} "
                        "completed")  # fmt: skip
            else:
                what = (f"visit {entry['start_date']}, {entry['days']} day(s), {entry['purpose']}"
                        f", meeting {entry['committee_meeting_id']}")  # fmt: skip
            story.say("remediation", f"item {item_id}: {what}")
    session = next(e for e in found[out.critical_item] if e["kind"] == "session")
    visit = next(e for e in found[out.other_item] if e["kind"] == "visit")
    if (
        session["source_id"] != out.session_id
        or session["participants"] != out.training_participants
        or visit["source_id"] != out.visit_id
        or visit["committee_meeting_id"] != out.committee_meeting_id
    ):
        raise StoryError(f"remediation shows other capacity building: {found}")


async def _buyer_summary(story: Stage, buyer: dict[str, str]) -> None:
    """The buyer's portfolio entry (totals) and the factory's detail (by course and year)."""
    out = story.outcome

    def trained(entry: dict[str, Any]) -> bool:
        summary = entry.get("training_and_advisory") or {}
        return bool(
            (summary.get("training") or {}).get("sessions")
            and (summary.get("advisory") or {}).get("visits")
        )

    entry = await story.portfolio_entry(buyer, "the training and advisory summary", trained)
    story.say("buyer", f"GET buyer_sharing/v1/buyers/{out.buyer_id}/factories → 200")
    training, advisory = (entry["training_and_advisory"][k] for k in ("training", "advisory"))
    story.say("buyer_sharing", f"portfolio: {training['sessions']} training session(s), "
              f"{training['participants']} participants, {training['completions']} completions, "
              f"{training['training_days']} training day(s); {advisory['visits']} advisory "
              f"visit(s), {advisory['advisory_days']} day(s)")  # fmt: skip
    if (
        training["participants"] != out.training_participants
        or training["completions"] != out.training_completions
        or advisory["advisory_days"] != VISIT_DAYS
    ):
        raise StoryError(f"the buyer's summary is not the factory's training: {entry}")
    detail = await story.call(
        "buyer", buyer, "buyer_sharing", "GET",
        f"/v1/buyers/{out.buyer_id}/factories/{out.factory_id}",
    )  # fmt: skip
    summary = detail["training_and_advisory"]
    for row in summary["training_by_course_and_year"]:
        story.say("buyer_sharing", f"{row['year']} {row['course_code']} ({row['course_title']}): "
                  f"{row['sessions']} session(s), {row['participants']} participants")  # fmt: skip
    for row in summary["advisory_by_year"]:
        story.say("buyer_sharing", f"{row['year']}: {row['visits']} advisory visit(s), "
                  f"{row['advisory_days']} day(s)")  # fmt: skip


async def _figures(story: Stage) -> None:
    """The public programme figures (no token) of the factory's country and the session's year."""
    out = story.outcome
    year = out.training_year
    figures = await story.call(
        "anyone", None, "advisory", "GET",
        f"/v1/training-sessions/figures?country={out.country}&from_year={year}&to_year={year}",
    )  # fmt: skip
    row = next((f for f in figures["figures"] if f["year"] == year), None)
    if row is None:
        raise StoryError(f"no programme figures for {out.country} {year}: {figures}")
    if row["suppressed"]:
        story.say("advisory", f"public figures {out.country} {year}: withheld (fewer than "
                  f"{figures['min_participants']} participants or {figures['min_factories']} "
                  "factories so far)")  # fmt: skip
        return
    story.say("advisory", f"public figures {out.country} {year}: {row['participants']} "
              f"participants trained, {row['completions']} completions "
              f"({row['cumulative_participants']} since the first year)")  # fmt: skip
    if row["participants"] < out.training_participants:
        raise StoryError(f"the public figures miss the session's participants: {row}")


def _answer(participant: int, item: int, phase: str, scale: int) -> int:
    """Before: 2 or 3; after: a point or two better (each participant a little differently)."""
    before = 2 + (participant + item) % 2
    if phase == "pre":
        return min(before, scale)
    return min(before + 1 + (participant % 3 == 0), scale)


def _check_counts_only(data: dict[str, Any], allowed: set[str]) -> None:
    """A public advisory event carries what its contract says, and no more."""
    if set(data) - allowed:
        raise StoryError(f"an advisory event carries more than its contract: {sorted(data)}")

"""The story's chapters about the improvement plan under the publication gate (docs/remediation.md,
"Publication and consent rules (as built)"): the factory drafts its plan, which reaches no buyer;
its bipartite committee (PICC, equal numbers of management and worker representatives) endorses
it in a meeting; the factory publishes it, and the buyer receives `ImprovementPlanPublished`
with the published content; from then on each change of a published item follows as
`ImprovementPlanUpdated` (and a verification as `RemediationVerified`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tools.demo.common import StoryError, only, today
from tools.demo.stage import Stage

DRAFT = {
    "root_cause": "guards removed during a line change",
    "planned_action": "refit guards; weekly check by the line supervisor",
    "responsible_person": "Maintenance manager",
}
MEMBERS = [
    {"name": "Chan Dara", "side": "management", "position": "HR manager"},
    {"name": "Keo Sophal", "side": "management", "position": "Production manager"},
    {"name": "Sok Chenda", "side": "worker", "position": "Sewing line 4"},
    {"name": "Mao Sreymom", "side": "worker", "position": "Union representative"},
]


async def publish_the_plan(story: Stage, own_factory: dict[str, str]) -> None:
    out = story.outcome
    plan = f"/v1/improvement-plans/{out.factory_id}"
    story.say("story", "8. The factory drafts its plan; its committee (PICC) endorses it in a "
              "meeting; the factory publishes it to its buyers")  # fmt: skip
    await story.call(
        "factory", own_factory, "remediation", "PATCH", f"{plan}/items/{out.critical_item}",
        body=DRAFT,
    )  # fmt: skip
    story.say("remediation", "the critical item's root cause, action and owner: a draft, which "
              "reaches no buyer")  # fmt: skip
    committee = await story.call(
        "factory", own_factory, "remediation", "PUT", f"/v1/committees/{out.factory_id}/members",
        body={"members": MEMBERS},
    )  # fmt: skip
    sides = Counter(member["side"] for member in committee["members"])
    story.say("remediation", f"committee of {sides['management']} management and "
              f"{sides['worker']} worker representatives")  # fmt: skip
    meeting = await story.call(
        "factory", own_factory, "remediation", "POST", f"/v1/committees/{out.factory_id}/meetings",
        body={"held_on": today().isoformat(),
              "attendees": [member["member_id"] for member in committee["members"]],
              "decisions": ["The committee endorses the improvement plan."],
              "endorses_plan": True},
        expect=201,
    )  # fmt: skip
    endorsing = meeting["meetings"][-1]
    out.committee_meeting_id = endorsing["meeting_id"]
    story.say("remediation", f"meeting {out.committee_meeting_id}: both sides present, the plan "
              "endorsed")  # fmt: skip
    since = story.mark()
    published = await story.call(
        "factory", own_factory, "remediation", "POST", f"{plan}/publications", expect=201
    )
    story.say("remediation", f"plan published at version {published['published_version']} "
              f"(late: {published['publication_late']})")  # fmt: skip

    delivery = only(
        await story.webhooks("the published plan", since, ImprovementPlanPublished=1),
        "ImprovementPlanPublished",
    )
    if "ImprovementPlanUpdated" in story.receiver.names(out.buyer_path):
        raise StoryError("a draft of the plan reached the buyer before its publication")
    data = delivery.event["data"]
    items = {item["item_id"]: item for item in data.get("items") or []}
    critical = items.get(out.critical_item) or {}
    if (
        len(items) != published["progress"]["total"]
        or not critical.get("published")
        or critical.get("root_cause") != DRAFT["root_cause"]
        or critical.get("planned_action") != DRAFT["planned_action"]
        or critical.get("owner_assigned") is not True
        or not (data.get("progress") or {}).get("published")
    ):
        raise StoryError(f"the published plan is not what the factory published: {data}")
    story.say("buyer", f"the published plan's {len(items)} items; {critical['question_id']}: "
              f"root cause '{critical['root_cause']}', action '{critical['planned_action']}', "
              "an owner assigned (never who)")  # fmt: skip


async def start_on_the_critical_item(story: Stage, own_factory: dict[str, str]) -> None:
    story.say("story", "9. The factory starts on the critical item: the buyer hears of it")
    since = story.mark()
    await _move(story, own_factory, "factory", "in_progress")
    delivery = only(
        await story.webhooks("the item in progress", since, ImprovementPlanUpdated=1),
        "ImprovementPlanUpdated",
    )
    _check_published(story, delivery.event["data"], "in_progress")


async def finish_the_critical_item(
    story: Stage, own_factory: dict[str, str], assessor: dict[str, str]
) -> None:
    story.say("story", "12. The factory completes the critical item; an assessor verifies it")
    since = story.mark()
    await _move(story, own_factory, "factory", "done")
    verified = await _move(story, assessor, "assessor", "verified")
    story.say("remediation", f"item {verified['item_id']} is {verified['status']}")
    deliveries = await story.webhooks(
        "the remediation's webhooks", since, ImprovementPlanUpdated=2, RemediationVerified=1
    )
    # an endpoint takes several deliveries at once: they may arrive in any order
    updates = [d.event["data"] for d in deliveries if d.event_name == "ImprovementPlanUpdated"]
    for status in ("done", "verified"):
        _check_published(
            story, next((u for u in updates if u["item"]["status"] == status), {}), status
        )


async def _move(story: Stage, auth: dict[str, str], who: str, status: str) -> dict[str, Any]:
    out = story.outcome
    moved: dict[str, Any] = await story.call(
        who, auth, "remediation", "POST",
        f"/v1/improvement-plans/{out.factory_id}/items/{out.critical_item}/status",
        body={"status": status},
    )  # fmt: skip
    return moved


def _check_published(story: Stage, data: dict[str, Any], status: str) -> None:
    """A change of a published item carries the item's content."""
    item = data.get("item") or {}
    if (
        item.get("item_id") != story.outcome.critical_item
        or item.get("status") != status
        or not item.get("published")
        or item.get("root_cause") != DRAFT["root_cause"]
    ):
        raise StoryError(f"the plan update is not the published item {status}: {data}")

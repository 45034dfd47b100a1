"""What followed a factory's assessments in remediation: an improvement plan item for each
non-compliance that stood after corrections, with its details and its status history (most done
and verified within months, some still open, a few reopened at a follow-up), and the factory's
bipartite committee with its meetings (one endorsing the plan after each report). Pure."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from tools.history.population import Factory
from tools.history.reference import QuestionRef, cluster_of
from tools.history.shape import Shape

ROOT_CAUSES = {
    "OSH": "No one is responsible for safety checks; the safety committee does not meet.",
    "WT": "Orders are planned without the line's capacity; overtime fills the gap.",
    "COM": "The payroll system does not apply the overtime premium.",
    "CON": "Contracts are renewed by habit; HR does not track their duration.",
}
ACTIONS = {
    "OSH": "Name a safety officer, check exits and guards weekly, report to the committee.",
    "WT": "Plan orders against capacity; cap overtime at two hours a day and record consent.",
    "COM": "Correct the payroll rule, pay the arrears, have the committee check monthly.",
    "CON": "Review every contract with the union; convert those beyond two years.",
}
RESPONSIBLE = ("HR manager", "Compliance officer", "Factory manager", "Safety officer")
REOPENED = "Not sustained at the follow-up visit."
MEMBERS = (
    "Sok Chanthy",
    "Chea Sreymom",
    "Keo Dara",
    "Lim Sophea",
    "Heng Sovann",
    "Nget Bopha",
    "Phan Sokha",
    "Touch Malis",
)
POSITIONS = {"management": ("HR manager", "Production manager"), "worker": ("Shop steward", None)}


def _due_date(rng: random.Random, report_date: date, question: QuestionRef | None) -> date:
    # within the remediation service's default window (7 / 30 / 90 days by severity)
    if question is not None and question.zero_tolerance:
        days = 7
    elif question is not None and question.critical:
        days = 30
    else:
        days = rng.randint(30, 90)
    return report_date + timedelta(days=days)


def _history(
    rng: random.Random, opened: date, found_again: bool, last_day: date
) -> list[dict[str, Any]]:
    """open -> in progress -> done -> verified (factory, factory, assessor); a few reopened with a
    reason and done again; not verified where the next assessment finds it again."""
    draw = rng.random()
    if draw < 0.06:
        return []
    steps: list[tuple[str, str, str | None, tuple[int, int]]] = [
        ("in_progress", "factory", None, (7, 45))
    ]
    if draw >= 0.14:
        steps.append(("done", "factory", None, (14, 120)))
    if 0.20 <= draw < 0.25:
        steps += [
            ("open", "assessor", REOPENED, (14, 90)),
            ("in_progress", "factory", None, (7, 30)),
            ("done", "factory", None, (14, 60)),
        ]
    if draw >= 0.20 and not found_again and rng.random() < 0.95:
        steps.append(("verified", "assessor", None, (14, 120)))
    history: list[dict[str, Any]] = []
    day = opened
    for status, by, reason, (low, high) in steps:
        day += timedelta(days=rng.randint(low, high))
        if day > last_day:
            break
        change: dict[str, Any] = {"status": status, "on": day.isoformat(), "by": by}
        if reason is not None:
            change["reason"] = reason
        history.append(change)
    return history


def plan_item(
    rng: random.Random,
    *,
    prefix: str,
    key: str,
    assessment: str,
    report_date: date,
    opened: date,
    question_id: str,
    question: QuestionRef | None,
    found_again: bool,
    last_day: date,
) -> dict[str, Any]:
    history = _history(rng, opened, found_again, last_day)
    planned = bool(history) or rng.random() < 0.5
    cluster = cluster_of(question_id)
    return {
        "source_id": f"{prefix}-P-{key}-{question_id}",
        "assessment": assessment,
        "question_id": question_id,
        "root_cause": ROOT_CAUSES.get(cluster, "No written procedure; supervisors not trained.")
        if planned
        else None,
        "planned_action": ACTIONS.get(
            cluster, "Write the procedure, train supervisors, check it monthly."
        )
        if planned
        else None,
        "responsible_person": rng.choice(RESPONSIBLE) if planned else None,
        # the history holds nothing after its last day, deadlines included
        "due_date": min(_due_date(rng, report_date, question), last_day).isoformat()
        if planned
        else None,
        "status_history": history,
    }


def committee(
    rng: random.Random, shape: Shape, factory: Factory, prefix: str
) -> dict[str, Any] | None:
    """The factory's committee (balanced: as many managers as workers), meeting about quarterly
    and after each report to endorse the improvement plan; None if it had none yet, or if the
    factory was never assessed (remediation knows a factory from its assessments)."""
    established = factory.registered_on + timedelta(days=rng.randint(30, 365))
    last_day = factory.last_day(shape)
    if established > last_day or not factory.visits:
        return None
    per_side = rng.randint(2, 4)
    names = rng.sample(MEMBERS, len(MEMBERS))
    members = [
        {"name": names[n], "side": side, "position": POSITIONS[side][n % 2]}
        for n, side in enumerate(["management"] * per_side + ["worker"] * per_side)
    ]
    meetings: dict[date, dict[str, Any]] = {}
    for visit in factory.visits:
        held = visit.report_date + timedelta(days=rng.randint(7, 40))
        if established <= held <= last_day:
            meetings[held] = {
                "held_on": held.isoformat(),
                "decisions": [f"Improvement plan after the {visit.report_date} report endorsed."],
                "endorses_plan": True,
            }
    endorsing = sorted(meetings)
    held = established
    while True:
        held += timedelta(days=rng.randint(60, 120))
        if held > last_day:
            break
        if any(abs((held - day).days) < 20 for day in endorsing):
            continue  # the endorsing meeting is that month's
        meetings.setdefault(
            held,
            {
                "held_on": held.isoformat(),
                "decisions": ["Progress of the improvement plan reviewed."],
                "endorses_plan": False,
            },
        )
    return {
        "source_id": f"{prefix}-C-{factory.index:05d}",
        "factory": factory.source_id,
        "established_on": established.isoformat(),
        "members": members,
        "meetings": [meetings[day] for day in sorted(meetings)],
    }

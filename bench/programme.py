"""A realistic national programme, created through the services' own REST commands: factories in
several countries, yearly assessment cycles answering every catalogue question, completions, the
improvement plans that follow (items moved through their states by the factory and verified or
reopened by advisors), committee endorsements and publications, corrections and factory responses;
then, with the advisory service, each factory's training sessions and advisory visits over its
cycles, linked to the plan items and committee meetings made here, and open sessions of several
factories (bench/advisory_programme.py).

Each factory is driven by its own deterministic random generator, and every command carries an
Idempotency-Key derived from the run's seed, the factory's index and the step: running the same
command again replays what was done (within the services' 24 h key lifetime) and goes on from there.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from bench.advisory_programme import AdvisoryProgramme, AdvisoryTally, CycleFacts, SeededFactory
from bench.rest import Caller, RequestFailed, token
from libs.servicekit.auth import Role

PLAN_WAIT_SECONDS = 120.0

# Non-compliance probabilities per question, before the factory's own quality and its progress over
# cycles: about 10% overall, rarer on critical issues and rarer still on zero-tolerance ones.
BASE_RATE = 0.115
CRITICAL_RATE = 0.03
ZERO_TOLERANCE_RATE = 0.004
# A question found non-compliant last cycle is found so again this often (persistent issues).
PERSISTENCE = 0.35
IMPROVEMENT_PER_CYCLE = 0.88  # factories improve: each cycle's rates are this share of the last

SECTORS = ("1410", "1420", "1430", "1392", "1512")
DISTRICTS = {
    "KH": ("Phnom Penh", "Kandal", "Kampong Speu", "Svay Rieng"),
    "BD": ("Gazipur", "Narayanganj", "Savar", "Chattogram"),
    "VN": ("Binh Duong", "Dong Nai", "Long An", "Hai Phong"),
    "ID": ("Central Java", "West Java", "Banten"),
    "JO": ("Irbid", "Sahab", "Al-Hassan"),
}


@dataclass(frozen=True)
class Scale:
    factories: int = 2_000
    cycles: int = 5
    countries: tuple[str, ...] = ("KH", "BD", "VN")
    concurrency: int = 16  # factories driven at once; each factory's commands run in order
    seed: int = 1


@dataclass
class Tally:
    """What the run did: requests by kind, events by service (from the aggregates' final versions,
    read over REST), factories finished, failures."""

    requests: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    factories_done: int = 0
    non_compliances: int = 0
    findings: int = 0
    failures: list[str] = field(default_factory=list)
    assessments: list[tuple[str, str]] = field(default_factory=list)  # (factory_id, assessment_id)
    factory_countries: dict[str, str] = field(default_factory=dict)
    advisory: AdvisoryTally | None = None  # with the advisory service

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


@dataclass
class Endpoints:
    assessment_url: str
    remediation_url: str
    advisory_url: str | None = None  # None: no training or advisory visits


class Programme:
    """Drives one factory after another (a bounded number at a time) through its whole history."""

    def __init__(
        self,
        endpoints: Endpoints,
        scale: Scale,
        client: httpx.AsyncClient,
        *,
        on_progress: Callable[[Tally], None] = lambda tally: None,
    ) -> None:
        self.endpoints = endpoints
        self.scale = scale
        self.client = client
        self.on_progress = on_progress
        self.tally = Tally()
        # staff work for their country programmes: this one for every country of the run
        assessor = token(Role.ASSESSOR, "seed-advisor", countries=list(scale.countries))
        self.assessor = Caller(client, endpoints.assessment_url, assessor)
        self.remediation_assessor = Caller(client, endpoints.remediation_url, assessor)
        self.advisory: AdvisoryProgramme | None = None
        if endpoints.advisory_url:
            self.advisory = AdvisoryProgramme(
                endpoints.advisory_url, client, seed=scale.seed, count=self.count
            )
            self.tally.advisory = self.advisory.tally
        self._seeded: list[SeededFactory] = []
        self._catalogues: dict[str, list[dict[str, Any]]] = {}
        self._catalogue_lock = asyncio.Lock()

    async def run(self, deadline: float | None = None) -> Tally:
        """All factories, or those started before `deadline` (monotonic): in-flight ones finish."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(self.scale.factories):
            queue.put_nowait(index)

        async def worker() -> None:
            while not queue.empty():
                if deadline is not None and time.monotonic() > deadline:
                    return
                index = queue.get_nowait()
                try:
                    await self.factory(index)
                except RequestFailed as error:
                    self.tally.failures.append(f"factory #{index}: {error}")
                self.tally.factories_done += 1
                self.on_progress(self.tally)

        await asyncio.gather(*(worker() for _ in range(self.scale.concurrency)))
        if self.advisory is not None:
            # open sessions gather factories of one country: once the factories are done
            await self.advisory.open_sessions(self._seeded, self.scale.concurrency)
            self.tally.events["advisory"] = self.advisory.tally.events
            self.tally.failures += self.advisory.tally.failures
        return self.tally

    # -- the catalogue ------------------------------------------------------------------------------
    async def questions(self, country: str) -> list[dict[str, Any]]:
        """Every question of the country's catalogue, each with `critical` / `zero_tolerance`."""
        async with self._catalogue_lock:
            if country not in self._catalogues:
                catalogue = await self.assessor.json(
                    "GET", "/v1/compliance-catalogue", params={"country": country}
                )
                self._catalogues[country] = [
                    question
                    for cluster in catalogue["clusters"]
                    for point in cluster["points"]
                    for question in point["questions"]
                ]
            return self._catalogues[country]

    # -- one factory's history ----------------------------------------------------------------------
    async def factory(self, index: int) -> None:
        scale = self.scale
        rng = random.Random(f"{scale.seed}-{index}")
        key = f"seed{scale.seed}-f{index}"
        country = scale.countries[index % len(scale.countries)]
        # a factory's own quality: most near the mean, a tail of low-compliance ones
        quality = min(3.0, max(0.2, rng.lognormvariate(0.0, 0.5)))
        women = rng.randint(300, 4_000)
        registered = await self.assessor.json(
            "POST",
            "/v1/factories",
            json={
                "name": f"{rng.choice(('Golden', 'Asia', 'River', 'Star', 'Lotus'))} Garment "
                f"{index:05d}",
                "country": country,
                "address": f"Lot {rng.randint(1, 400)}, {rng.choice(DISTRICTS[country])}",
                "sector_isic": rng.choice(SECTORS),
                "workforce": {"women": women, "men": int(women * rng.uniform(0.1, 0.5))},
            },
            idempotency_key=f"{key}-register",
        )
        self.count("register factory")
        factory_id: str = registered["factory_id"]
        self.tally.factory_countries[factory_id] = country
        factory_user = f"seed-factory-{index}"
        factory_assessment = Caller(
            self.client,
            self.endpoints.assessment_url,
            token(Role.FACTORY, factory_user, factory_id=factory_id),
        )
        factory_remediation = Caller(
            self.client,
            self.endpoints.remediation_url,
            token(Role.FACTORY, factory_user, factory_id=factory_id),
        )
        committee = await factory_remediation.json(
            "PUT",
            f"/v1/committees/{factory_id}/members",
            json={
                "members": [
                    {"name": "HR manager", "side": "management", "position": "HR"},
                    {"name": "Production manager", "side": "management"},
                    {"name": "Sewing line worker rep", "side": "worker"},
                    {"name": "Union shop steward", "side": "worker"},
                ]
            },
            idempotency_key=f"{key}-committee",
        )
        self.count("committee members")
        members = [member["member_id"] for member in committee["members"]]

        questions = await self.questions(country)
        previous_non_compliant: set[str] = set()
        expected_items = 0
        today = date.today()
        cycles: list[CycleFacts] = []
        for cycle in range(1, scale.cycles + 1):
            ckey = f"{key}-c{cycle}"
            scheduled_for = today - timedelta(
                days=365 * (scale.cycles - cycle) + rng.randint(0, 60)
            )
            scheduled = await self.assessor.json(
                "POST",
                "/v1/assessments",
                json={
                    "factory_id": factory_id,
                    "scheduled_for": scheduled_for.isoformat(),
                    "assessors": [
                        f"advisor-{rng.randint(1, 40)}",
                        f"advisor-{rng.randint(41, 80)}",
                    ],
                },
                idempotency_key=f"{ckey}-schedule",
            )
            self.count("schedule assessment")
            assessment_id: str = scheduled["assessment_id"]
            self.tally.assessments.append((factory_id, assessment_id))
            improvement = IMPROVEMENT_PER_CYCLE ** (cycle - 1)
            non_compliant: list[str] = []
            findings: list[dict[str, Any]] = []
            for question in questions:
                found = rng.random() < self._rate(
                    question, quality * improvement, question["id"] in previous_non_compliant
                )
                body: dict[str, Any] = {
                    "question_id": question["id"],
                    "result": "non_compliant" if found else "compliant",
                    "evidence": (
                        f"Observed on site, cycle {cycle}: {question['text'][:80]}"
                        if found
                        else "Documents and interviews consistent."
                    ),
                }
                if found:
                    non_compliant.append(question["id"])
                    body["evidence_refs"] = [f"doc-{assessment_id[:8]}-{question['id']}"]
                findings.append(body)
            # the whole assessment in one request, as an on-site team records it (one append)
            await self.assessor.request(
                "POST",
                f"/v1/assessments/{assessment_id}/findings",
                json={"findings": findings},
                idempotency_key=f"{ckey}-findings",
            )
            self.count("record findings (one request per assessment)")
            self.tally.findings += len(questions)
            self.tally.non_compliances += len(non_compliant)
            await self.assessor.request(
                "POST",
                f"/v1/assessments/{assessment_id}/complete",
                idempotency_key=f"{ckey}-complete",
            )
            self.count("complete assessment")
            expected_items += len(non_compliant)
            previous_non_compliant = set(non_compliant)

            await self._respond(rng, factory_assessment, assessment_id, non_compliant, ckey)
            if non_compliant and rng.random() < 0.04:
                # an advisor corrects a finding after the report: a new, attributed event
                await self.assessor.request(
                    "POST",
                    f"/v1/assessments/{assessment_id}/findings/{non_compliant[0]}/corrections",
                    json={
                        "result": "non_compliant",
                        "evidence": "Corrected: payroll records for three more months reviewed.",
                        "reason": "Additional evidence received after the visit.",
                    },
                    idempotency_key=f"{ckey}-correction",
                )
                self.count("correct finding")
            await self._wait_for_plan(factory_remediation, factory_id, expected_items)
            items: tuple[tuple[str, str], ...] = ()
            meeting_id = None
            if non_compliant:
                items, meeting_id = await self._remediate(
                    rng, factory_remediation, factory_id, assessment_id, ckey, members, cycle
                )
            cycles.append(CycleFacts(cycle, scheduled_for, items, meeting_id))
        await self._count_events(factory_id)
        if self.advisory is not None:
            men = int(registered.get("workforce", {}).get("men", women // 4))
            seeded = SeededFactory(index, factory_id, country, women, men, tuple(cycles))
            if await self.advisory.factory(seeded):
                self._seeded.append(seeded)

    @staticmethod
    def _rate(question: dict[str, Any], factor: float, was_non_compliant: bool) -> float:
        if question["zero_tolerance"]:
            base = ZERO_TOLERANCE_RATE
        elif question["critical"]:
            base = CRITICAL_RATE
        else:
            base = BASE_RATE
        rate = base * factor
        return max(rate, PERSISTENCE) if was_non_compliant else rate

    async def _respond(
        self,
        rng: random.Random,
        factory: Caller,
        assessment_id: str,
        non_compliant: Sequence[str],
        ckey: str,
    ) -> None:
        for question_id in non_compliant:
            draw = rng.random()
            if draw < 0.03:
                body = {
                    "kind": "dispute",
                    "text": "We disagree with this finding.",
                    "reason": "The overtime was voluntary and recorded; records attached.",
                }
            elif draw < 0.25:
                body = {"kind": "response", "text": "Acknowledged; the committee will act on it."}
            else:
                continue
            await factory.request(
                "POST",
                f"/v1/assessments/{assessment_id}/findings/{question_id}/responses",
                json=body,
                idempotency_key=f"{ckey}-response-{question_id}",
            )
            self.count("respond to finding")

    async def _wait_for_plan(self, factory: Caller, factory_id: str, items: int) -> None:
        """The plan shows every item found so far (the remediation consumer has caught up)."""
        deadline = time.monotonic() + PLAN_WAIT_SECONDS
        while True:
            response = await factory.request(
                "GET", f"/v1/improvement-plans/{factory_id}", accept=(404,)
            )
            total = response.json()["progress"]["total"] if response.status_code == 200 else 0
            if total >= items:
                return
            if time.monotonic() > deadline:
                raise RequestFailed(
                    "GET", f"/v1/improvement-plans/{factory_id}", 0, f"{total} of {items} items"
                )
            await asyncio.sleep(0.1)

    async def _remediate(
        self,
        rng: random.Random,
        factory: Caller,
        factory_id: str,
        assessment_id: str,
        ckey: str,
        members: list[str],
        cycle: int,
    ) -> tuple[tuple[tuple[str, str], ...], str | None]:
        """The cycle's items moved on; its items (id, cluster) and the endorsing meeting's id."""
        items = await self._items(factory, factory_id, assessment_id)
        plans = f"/v1/improvement-plans/{factory_id}"
        meeting_id: str | None = None
        # the committee meets, endorses the plan, and the factory publishes it to its buyers
        if cycle == 1 or rng.random() < 0.7:
            committee = await factory.json(
                "POST",
                f"/v1/committees/{factory_id}/meetings",
                json={
                    # distinct days: the committee's latest endorsement is picked by date
                    "held_on": (
                        date.today() - timedelta(days=self.scale.cycles - cycle)
                    ).isoformat(),
                    "attendees": members,
                    "decisions": [f"Improvement plan for cycle {cycle} endorsed."],
                    "endorses_plan": True,
                },
                idempotency_key=f"{ckey}-meeting",
            )
            if committee.get("meetings"):
                meeting_id = committee["meetings"][-1]["meeting_id"]
            await factory.request("POST", f"{plans}/publications", idempotency_key=f"{ckey}-pub")
            self.count("committee meeting")
            self.count("publish plan")
        for item in items:
            item_id = item["item_id"]
            ikey = f"{ckey}-item-{item['question_id']}"
            draw = rng.random()
            if draw < 0.12:
                continue  # left open
            await factory.request(
                "PATCH",
                f"{plans}/items/{item_id}",
                json={
                    "root_cause": "No written procedure; supervisors not trained.",
                    "planned_action": "Write the procedure, train supervisors, check monthly.",
                    "responsible_person": rng.choice(("HR manager", "Compliance officer")),
                },
                idempotency_key=f"{ikey}-details",
            )
            self.count("fill in item")
            await self._status(factory, plans, item_id, "in_progress", f"{ikey}-start")
            if draw < 0.30:
                continue  # in progress
            await self._status(factory, plans, item_id, "done", f"{ikey}-done")
            if draw < 0.40:
                continue  # done, awaiting verification
            if draw < 0.47:
                await self._status(
                    self.remediation_assessor,
                    plans,
                    item_id,
                    "open",
                    f"{ikey}-reopen",
                    reason="Not sustained at the follow-up visit.",
                )
                continue
            await self._status(self.remediation_assessor, plans, item_id, "verified", f"{ikey}-ok")
        return tuple((item["item_id"], item["cluster_id"]) for item in items), meeting_id

    async def _status(
        self,
        caller: Caller,
        plans: str,
        item_id: str,
        status: str,
        key: str,
        reason: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"status": status}
        if reason is not None:
            body["reason"] = reason
        await caller.request(
            "POST", f"{plans}/items/{item_id}/status", json=body, idempotency_key=key
        )
        self.count(f"item → {status}")

    async def _items(
        self, factory: Caller, factory_id: str, assessment_id: str
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = await factory.json(
                "GET", f"/v1/improvement-plans/{factory_id}/items", params=params
            )
            items += [item for item in page["items"] if item["assessment_id"] == assessment_id]
            cursor = page["next_cursor"]
            if not cursor:
                return sorted(items, key=lambda item: item["question_id"])

    async def _count_events(self, factory_id: str) -> None:
        """The factory's events, from its aggregates' versions (each version is one event)."""
        factory = await self.assessor.request("GET", f"/v1/factories/{factory_id}")
        events = factory.json()["version"]
        page = await self.assessor.json(
            "GET", "/v1/assessments", params={"factory_id": factory_id, "limit": 100}
        )
        events += sum(assessment["version"] for assessment in page["items"])
        self.tally.events["assessment"] += events
        plan = await self.remediation_assessor.request(
            "GET", f"/v1/improvement-plans/{factory_id}", accept=(404,)
        )
        committee = await self.remediation_assessor.request(
            "GET", f"/v1/committees/{factory_id}", accept=(404,)
        )
        self.tally.events["remediation"] += sum(
            response.json()["version"]
            for response in (plan, committee)
            if response.status_code == 200
        )

    def count(self, kind: str) -> None:
        self.tally.requests[kind] += 1

"""The whole system's story, played over REST against the four running services, with the buyer's
webhooks received by a local `WebhookReceiver`: register a factory and buyers; the factory shares;
the buyer registers a webhook; an assessor schedules, records findings (non-compliances and a
critical issue) and completes; remediation opens a plan; the buyer's portfolio shows the factory and
its webhooks arrive, signed; an item is done and verified; the factory revokes; the buyer's report
is a 404 and nothing more reaches it.

`python3 bw.py demo` narrates it; `tests/e2e` play it with a kill -9 or a NATS node lost in the
middle (`pause` hooks). Every step checks its answer and raises `StoryError` when the system does
not do what the story says, so the story itself is the end-to-end assertion."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from libs.servicekit.auth import Role, mint_token
from tools.demo.receiver import Delivery, WebhookReceiver

# What the buyer's endpoint subscribes to; the second buyer (the "witness") takes plan updates only.
BUYER_EVENTS = ["AssessmentCompleted", "NonComplianceFound", "ImprovementPlanUpdated",
                "RemediationVerified"]  # fmt: skip
WITNESS_EVENTS = ["ImprovementPlanUpdated"]
NON_CRITICAL_FINDINGS = 2

Say = Callable[[str, str], None]  # (who, what happened)
Pause = Callable[[str], Awaitable[None]]  # called between steps with the step's name


class StoryError(Exception):
    """The system did not do what the story expects; the message says what and where."""


@dataclass(frozen=True)
class Urls:
    assessment: str = "http://127.0.0.1:8001"
    remediation: str = "http://127.0.0.1:8002"
    buyer_sharing: str = "http://127.0.0.1:8003"
    notifications: str = "http://127.0.0.1:8004"


@dataclass
class Outcome:
    """What the story did and what the buyer received."""

    factory_id: str = ""
    assessment_id: str = ""
    buyer_id: str = ""
    buyer_path: str = ""
    witness_path: str = ""
    expected: Counter[str] = field(default_factory=Counter)  # event name → messages the buyer gets
    received: list[Delivery] = field(default_factory=list)
    duplicates: int = 0


async def _no_pause(_step: str) -> None:
    return None


@dataclass
class Story:
    urls: Urls
    jwt_secret: str
    receiver: WebhookReceiver
    say: Say
    pause: Pause = _no_pause
    wait_seconds: float = 60.0  # how long any one asynchronous effect may take
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    outcome: Outcome = field(default_factory=Outcome)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    # -- plumbing ---------------------------------------------------------------------------------
    def _token(self, role: Role, subject: str, **claims: str) -> dict[str, str]:
        token = mint_token(self.jwt_secret, subject, role, **claims)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def _call(
        self,
        who: str,
        auth: dict[str, str],
        service: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        expect: int = 200,
        quiet: bool = False,
    ) -> Any:
        client = self._clients[service]
        try:
            response = await client.request(method, path, json=body, headers=auth)
        except httpx.HTTPError as error:
            raise StoryError(f"{service} did not answer {method} {path}: {error!r}") from error
        if response.status_code != expect:
            raise StoryError(
                f"{service} answered {method} {path} with {response.status_code}, expected "
                f"{expect}: {response.text[:500]}"
            )
        if not quiet:
            self.say(who, f"{method} {service}{path} → {response.status_code}")
        return response.json() if response.content else None

    async def _eventually(self, what: str, check: Callable[[], Awaitable[Any]]) -> Any:
        """Poll `check` until it returns something truthy (transport errors count as not yet)."""
        try:
            async with asyncio.timeout(self.wait_seconds):
                while True:
                    try:
                        result = await check()
                    except httpx.TransportError:
                        result = None
                    if result:
                        return result
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise StoryError(f"{what}: not seen within {self.wait_seconds:.0f} s") from None

    async def _webhooks(self, path: str, wanted: Counter[str], what: str) -> None:
        def arrived() -> bool:
            return Counter(self.receiver.names(path)) >= wanted

        try:
            await self.receiver.wait_for(arrived, self.wait_seconds)
        except TimeoutError:
            got = Counter(self.receiver.names(path))
            raise StoryError(
                f"{what}: expected {dict(wanted)}, received {dict(got)} within "
                f"{self.wait_seconds:.0f} s; refused: {self.receiver.rejected}"
            ) from None

    # -- the story ----------------------------------------------------------------------------------
    async def play(self) -> Outcome:
        services = {
            "assessment": self.urls.assessment,
            "remediation": self.urls.remediation,
            "buyer_sharing": self.urls.buyer_sharing,
            "notifications": self.urls.notifications,
        }
        for name, url in services.items():
            self._clients[name] = httpx.AsyncClient(base_url=url, timeout=15)
        try:
            await self._play()
        finally:
            for client in self._clients.values():
                await client.aclose()
        self.outcome.received = list(self.receiver.applied.get(self.outcome.buyer_path, []))
        self.outcome.duplicates = self.receiver.duplicates
        return self.outcome

    async def _play(self) -> None:
        out = self.outcome
        assessor = self._token(Role.ASSESSOR, "advisor-sok")
        admin = self._token(Role.ADMIN, "programme-admin")
        buyer_id, witness_id = f"northwind-{self.run}", f"southwind-{self.run}"
        buyer = self._token(Role.BUYER, "sourcing-lead", buyer_id=buyer_id)
        witness = self._token(Role.BUYER, "witness", buyer_id=witness_id)
        out.buyer_id = buyer_id

        self.say("story", "1. An assessor registers a factory; the programme registers two buyers")
        factory = await self._call(
            "assessor", assessor, "assessment", "POST", "/v1/factories", expect=201,
            body={"name": f"Angkor Knitwear {self.run}", "country": "KH",
                  "address": "Veng Sreng Blvd, Phnom Penh", "sector_isic": "1430",
                  "workforce": {"women": 1450, "men": 310}},
        )  # fmt: skip
        out.factory_id = factory_id = factory["factory_id"]
        self.say("assessment", f"factory {factory_id} registered")
        for who_id, name in ((buyer_id, "Northwind Apparel"), (witness_id, "Southwind Sport")):
            await self._call(
                "admin", admin, "buyer_sharing", "POST", "/v1/buyers", expect=201,
                body={"buyer_id": who_id, "name": name, "country": "DE",
                      "contact_name": "Sourcing", "contact_email": f"sourcing@{who_id}.example"},
            )  # fmt: skip
        own_factory = self._token(Role.FACTORY, "factory-manager", factory_id=factory_id)

        self.say("story", "2. The factory shares its reports with both buyers")
        for who_id in (buyer_id, witness_id):
            await self._call(
                "factory", own_factory, "buyer_sharing", "POST", "/v1/sharing-grants",
                body={"buyer_id": who_id, "reason": "supplier onboarding"}, expect=201,
            )  # fmt: skip

        self.say("story", "3. Each buyer registers a webhook endpoint (a receiver on this machine)")
        out.buyer_path, out.witness_path = f"/hooks/{buyer_id}", f"/hooks/{witness_id}"
        for auth, path, types in (
            (buyer, out.buyer_path, BUYER_EVENTS),
            (witness, out.witness_path, WITNESS_EVENTS),
        ):
            endpoint = await self._call(
                "buyer", auth, "notifications", "POST", "/v1/webhook-endpoints", expect=201,
                body={"url": self.receiver.url(path), "event_types": types,
                      "description": "demo receiver"},
            )  # fmt: skip
            self.receiver.expect(path, endpoint["secret"])
            if path == out.buyer_path:
                buyer_endpoint = endpoint["endpoint_id"]
            self.say("notifications", f"endpoint {endpoint['endpoint_id']} for {types}")
        await self.pause("registered")

        self.say("story", "4. An assessor schedules an assessment, records findings, completes it")
        critical, others, compliant = await self._pick_questions(assessor)
        scheduled = await self._call(
            "assessor", assessor, "assessment", "POST", "/v1/assessments", expect=201,
            body={"factory_id": factory_id, "scheduled_for": date.today().isoformat(),
                  "assessors": ["advisor-sok", "advisor-dara"]},
        )  # fmt: skip
        out.assessment_id = assessment_id = scheduled["assessment_id"]
        non_compliant = [critical, *others]
        findings = [
            {"question_id": q, "result": "non_compliant", "evidence": "observed on site"}
            for q in non_compliant
        ] + [{"question_id": q, "result": "compliant"} for q in compliant]
        await self._call(
            "assessor", assessor, "assessment", "POST",
            f"/v1/assessments/{assessment_id}/findings", body={"findings": findings},
        )  # fmt: skip
        self.say("assessment", f"{len(non_compliant)} non-compliances (1 critical: {critical})")
        completed = await self._call(
            "assessor", assessor, "assessment", "POST", f"/v1/assessments/{assessment_id}/complete"
        )
        self.say("assessment", f"assessment {assessment_id} is {completed.get('status')}")
        await self.pause("completed")

        self.say("story", "5. Remediation opens a plan, one item per non-compliance")

        async def plan_items() -> list[dict[str, Any]] | None:
            response = await self._clients["remediation"].get(
                f"/v1/improvement-plans/{factory_id}/items", headers=own_factory
            )
            if response.status_code == 404:  # no plan yet: the events are on their way
                return None
            if response.status_code != 200:
                raise StoryError(f"remediation answered {response.status_code}: {response.text}")
            items: list[dict[str, Any]] = response.json()["items"]
            return items if len(items) == len(non_compliant) else None

        items = await self._eventually("the improvement plan", plan_items)
        if sorted(item["question_id"] for item in items) != sorted(non_compliant):
            raise StoryError(f"plan items {[i['question_id'] for i in items]} != {non_compliant}")
        for item in items:
            self.say("remediation", f"item {item['item_id']} {item['question_id']} "
                     f"critical={item['critical']} due {item['due_date']}")  # fmt: skip

        self.say("story", "6. The buyer's portfolio shows the factory and its report")

        async def portfolio() -> dict[str, Any] | None:
            page = await self._call(
                "buyer", buyer, "buyer_sharing", "GET", f"/v1/buyers/{buyer_id}/factories",
                quiet=True,
            )  # fmt: skip
            for entry in page["items"]:
                plan = entry.get("improvement_plan") or {}
                if (
                    entry["factory_id"] == factory_id
                    and entry.get("latest_report")
                    and (plan.get("total") == len(non_compliant))
                ):
                    return dict(entry)
            return None

        entry = await self._eventually("the buyer's portfolio", portfolio)
        report = entry["latest_report"]
        self.say("buyer_sharing", f"portfolio: {entry['name']}, report {report['assessment_id']}, "
                 f"{entry['open_critical_issues']} open critical issue(s), "
                 f"plan of {entry['improvement_plan']['total']} items")  # fmt: skip
        if report["assessment_id"] != assessment_id or entry["open_critical_issues"] != 1:
            raise StoryError(f"unexpected portfolio entry {entry}")

        self.say("story", "7. The buyer's webhook receives the report and the plan, signed")
        out.expected = Counter(
            AssessmentCompleted=1,
            NonComplianceFound=len(non_compliant),
            ImprovementPlanUpdated=len(non_compliant),  # one per item added
        )
        await self._webhooks(out.buyer_path, out.expected, "the buyer's webhooks")
        for delivery in self.receiver.applied[out.buyer_path]:
            self.say("buyer", f"received {_describe(delivery)} (signature verified)")

        self.say(
            "story", "8. The factory plans and completes the critical item; an assessor verifies"
        )
        item_id = next(item["item_id"] for item in items if item["question_id"] == critical)
        item_path = f"/v1/improvement-plans/{factory_id}/items/{item_id}"
        await self._call(
            "factory", own_factory, "remediation", "PATCH", item_path,
            body={"root_cause": "guards removed during a line change",
                  "planned_action": "refit guards; weekly check by the line supervisor",
                  "responsible_person": "Maintenance manager"},
        )  # fmt: skip
        for status in ("in_progress", "done"):
            await self._call(
                "factory", own_factory, "remediation", "POST",
                f"/v1/improvement-plans/{factory_id}/items/{item_id}/status",
                body={"status": status},
            )  # fmt: skip
        verified = await self._call(
            "assessor", assessor, "remediation", "POST",
            f"/v1/improvement-plans/{factory_id}/items/{item_id}/status",
            body={"status": "verified"},
        )  # fmt: skip
        self.say("remediation", f"item {item_id} is {verified['status']}")
        await self.pause("verified")
        seen = len(self.receiver.applied[out.buyer_path])
        # the details, in progress, done, verified; and the verification itself
        out.expected += Counter(ImprovementPlanUpdated=4, RemediationVerified=1)
        await self._webhooks(out.buyer_path, out.expected, "the buyer's remediation webhooks")
        for delivery in self.receiver.applied[out.buyer_path][seen:]:
            self.say("buyer", f"received {_describe(delivery)} (signature verified)")

        self.say("story", "9. The factory revokes the buyer's access")
        await self._call(
            "factory", own_factory, "buyer_sharing", "POST",
            f"/v1/sharing-grants/{factory_id}/{buyer_id}/revoke",
            body={"reason": "end of the business relationship"},
        )  # fmt: skip
        await self._call(
            "buyer", buyer, "buyer_sharing", "GET",
            f"/v1/buyers/{buyer_id}/factories/{factory_id}/reports", expect=404,
        )  # fmt: skip
        self.say("buyer_sharing", "the buyer's report request is a 404: the factory is not shared")

        self.say("story", "10. The plan changes again: the other buyer hears of it, this one not")
        other = next(item["item_id"] for item in items if item["question_id"] != critical)
        await self._call(
            "factory", own_factory, "remediation", "POST",
            f"/v1/improvement-plans/{factory_id}/items/{other}/status",
            body={"status": "in_progress"},
        )  # fmt: skip

        def witnessed() -> bool:
            return any(
                delivery.event.get("data", {}).get("item", {}).get("item_id") == other
                and delivery.event["data"]["item"].get("status") == "in_progress"
                for delivery in self.receiver.applied.get(out.witness_path, [])
            )

        try:
            await self.receiver.wait_for(witnessed, self.wait_seconds)
        except TimeoutError:
            raise StoryError("the other buyer never received the last plan update") from None
        self.say("buyer", "the other buyer received the last plan update; this buyer did not")
        log = await self._call(
            "buyer", buyer, "notifications", "GET",
            f"/v1/messages?endpoint_id={buyer_endpoint}&limit=100", quiet=True,
        )  # fmt: skip
        # a plan update can reach notifications before the revocation (another stream): its
        # message is then cancelled when the revocation arrives, never sent; it is not counted
        logged = Counter(
            message["event_type"] for message in log["items"] if message["status"] != "cancelled"
        )
        if logged != out.expected:
            raise StoryError(f"the buyer's message log {dict(logged)} != {dict(out.expected)}")
        self._check_received()
        self.say("notifications", f"the buyer's log holds {sum(logged.values())} messages, "
                 "none after the revocation")  # fmt: skip

    async def _pick_questions(self, assessor: dict[str, str]) -> tuple[str, list[str], list[str]]:
        """A critical (not zero-tolerance) question and a few ordinary ones found non-compliant;
        every other critical question compliant (completion needs each critical one answered),
        from the catalogue the assessment service serves for Cambodia."""
        catalogue = await self._call(
            "assessor", assessor, "assessment", "GET", "/v1/compliance-catalogue?country=KH"
        )
        questions = [
            question
            for cluster in catalogue["clusters"]
            for point in cluster["points"]
            for question in point["questions"]
        ]
        critical = next(q["id"] for q in questions if q["critical"] and not q["zero_tolerance"])
        others = [q["id"] for q in questions if not q["critical"]][:NON_CRITICAL_FINDINGS]
        compliant = [q["id"] for q in questions if q["critical"] and q["id"] != critical]
        return critical, others, compliant

    def _check_received(self) -> None:
        """Each event took effect once: the buyer applied exactly the expected messages, each
        webhook-id once and each event (CloudEvents id) under one webhook-id only."""
        received = self.receiver.applied[self.outcome.buyer_path]
        got = Counter(delivery.event_name for delivery in received)
        if got != self.outcome.expected:
            raise StoryError(
                f"the buyer applied {dict(got)}, expected {dict(self.outcome.expected)}"
            )
        event_ids = [delivery.event.get("id") for delivery in received]
        if len(set(event_ids)) != len(event_ids):
            raise StoryError("an event reached the buyer under two webhook-ids")
        foreign = [d for d in received if d.event.get("subject") != self.outcome.factory_id]
        if foreign or self.receiver.rejected:
            raise StoryError(f"unexpected messages: {foreign} / refused: {self.receiver.rejected}")


def _describe(delivery: Delivery) -> str:
    data = delivery.event.get("data") or {}
    detail = ""
    if delivery.event_name == "NonComplianceFound":
        detail = f" {data.get('question_id')}" + (" (critical)" if data.get("critical") else "")
    elif delivery.event_name == "ImprovementPlanUpdated":
        item = data.get("item") or {}
        detail = f" {data.get('change')} {item.get('question_id')} → {item.get('status')}"
    elif delivery.event_name == "AssessmentCompleted":
        detail = f" {data.get('assessment_id')}"
    return f"{delivery.event_name}{detail} [webhook-id {delivery.webhook_id}]"

"""The whole system's story, played over REST against the five running services, with the buyers'
webhooks received by a local `WebhookReceiver`: register a factory and buyers; the factory shares;
the buyers register webhooks; an assessor schedules, records findings (non-compliances and a
critical issue) and completes; remediation opens a plan; the buyer's portfolio shows the factory
and the report's webhooks arrive, signed, without the plan's drafts, and the buyer downloads the
report's verifiable credential (`credential.py`); the factory's committee
endorses the plan and the factory publishes it (`publication.py`); the programme trains the
factory's staff and an advisor visits (`training.py`); the critical item is done and verified;
what the buyer, remediation and the public see of the training; the factory revokes; the buyer's
report is a 404 and nothing more reaches it; the buyer verifies the credential it kept, offline.

`python3 bw.py demo` narrates it; `tests/e2e` play it with a kill -9 or a NATS node lost in the
middle (`pause` hooks). Every step checks its answer and raises `StoryError` when the system does
not do what the story says, so the story itself is the end-to-end assertion."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from libs.servicekit.auth import Role
from tools.demo import credential, publication, training
from tools.demo.common import StoryError, only, today
from tools.demo.stage import Outcome, Stage, Urls

# What the buyer's endpoint subscribes to; the second buyer (the "witness") takes plan updates
# only.
BUYER_EVENTS = ["AssessmentCompleted", "NonComplianceFound", "ImprovementPlanPublished",
                "ImprovementPlanUpdated", "RemediationVerified", "TrainingSessionDelivered",
                "AdvisoryVisitCompleted"]  # fmt: skip
WITNESS_EVENTS = ["ImprovementPlanUpdated"]
NON_CRITICAL_FINDINGS = 2

__all__ = ["Outcome", "Story", "StoryError", "Urls"]


@dataclass
class Story(Stage):
    """The story on its stage (`Stage`: the services' URLs, the secret, the receiver, the
    narrator, the pause hook)."""

    async def play(self) -> Outcome:
        await self.open()
        try:
            await self._play()
        finally:
            await self.close()
        self.outcome.received = list(self.receiver.applied.get(self.outcome.buyer_path, []))
        self.outcome.duplicates = self.receiver.duplicates
        return self.outcome

    async def _play(self) -> None:
        out = self.outcome
        assessor = self.token(Role.ASSESSOR, "advisor-sok", countries=[out.country])
        admin = self.token(Role.ADMIN, "programme-admin", countries="*")
        buyer_id, witness_id = f"northwind-{self.run}", f"southwind-{self.run}"
        buyer = self.token(Role.BUYER, "sourcing-lead", buyer_id=buyer_id)
        witness = self.token(Role.BUYER, "witness", buyer_id=witness_id)
        out.buyer_id = buyer_id

        self.say("story", "1. An assessor registers a factory; the programme registers two buyers")
        factory = await self.call(
            "assessor", assessor, "assessment", "POST", "/v1/factories", expect=201,
            body={"name": f"Angkor Knitwear {self.run}", "country": out.country,
                  "address": "Veng Sreng Blvd, Phnom Penh", "sector_isic": "1430",
                  "workforce": {"women": 1450, "men": 310}},
        )  # fmt: skip
        out.factory_id = factory_id = factory["factory_id"]
        self.say("assessment", f"factory {factory_id} registered")
        for who_id, name in ((buyer_id, "Northwind Apparel"), (witness_id, "Southwind Sport")):
            await self.call(
                "admin", admin, "buyer_sharing", "POST", "/v1/buyers", expect=201,
                body={"buyer_id": who_id, "name": name, "country": "DE",
                      "contact_name": "Sourcing", "contact_email": f"sourcing@{who_id}.example"},
            )  # fmt: skip
        own_factory = self.token(Role.FACTORY, "factory-manager", factory_id=factory_id)

        self.say("story", "2. The factory shares its reports with both buyers")
        for who_id in (buyer_id, witness_id):
            await self.call(
                "factory", own_factory, "buyer_sharing", "POST", "/v1/sharing-grants",
                body={"buyer_id": who_id, "reason": "supplier onboarding"}, expect=201,
            )  # fmt: skip

        self.say("story", "3. Each buyer registers a webhook endpoint (a receiver on this machine)")
        out.buyer_path, out.witness_path = f"/hooks/{buyer_id}", f"/hooks/{witness_id}"
        buyer_endpoint = await self._register_endpoint(buyer, out.buyer_path, BUYER_EVENTS)
        await self._register_endpoint(witness, out.witness_path, WITNESS_EVENTS)
        await self.pause("registered")

        self.say("story", "4. An assessor schedules an assessment, records findings, completes it")
        critical, cluster, others, compliant = await self._pick_questions(assessor)
        scheduled = await self.call(
            "assessor", assessor, "assessment", "POST", "/v1/assessments", expect=201,
            body={"factory_id": factory_id, "scheduled_for": today().isoformat(),
                  "assessors": ["advisor-sok", "advisor-dara"]},
        )  # fmt: skip
        out.assessment_id = assessment_id = scheduled["assessment_id"]
        non_compliant = [critical, *others]
        findings = [
            {"question_id": q, "result": "non_compliant", "evidence": "observed on site"}
            for q in non_compliant
        ] + [{"question_id": q, "result": "compliant"} for q in compliant]
        await self.call(
            "assessor", assessor, "assessment", "POST",
            f"/v1/assessments/{assessment_id}/findings", body={"findings": findings},
        )  # fmt: skip
        self.say("assessment", f"{len(non_compliant)} non-compliances (1 critical: {critical})")
        completed = await self.call(
            "assessor", assessor, "assessment", "POST", f"/v1/assessments/{assessment_id}/complete"
        )
        self.say("assessment", f"assessment {assessment_id} is {completed.get('status')}")
        await self.pause("completed")

        self.say("story", "5. Remediation opens a plan, one item per non-compliance")

        async def plan_items() -> list[dict[str, Any]] | None:
            response = await self.request(
                own_factory, "remediation", "GET", f"/v1/improvement-plans/{factory_id}/items"
            )
            if response.status_code == 404:  # no plan yet: the events are on their way
                return None
            if response.status_code != 200:
                raise StoryError(f"remediation answered {response.status_code}: {response.text}")
            items: list[dict[str, Any]] = response.json()["items"]
            return items if len(items) == len(non_compliant) else None

        items = await self.eventually("the improvement plan", plan_items)
        if sorted(item["question_id"] for item in items) != sorted(non_compliant):
            raise StoryError(f"plan items {[i['question_id'] for i in items]} != {non_compliant}")
        for item in items:
            self.say("remediation", f"item {item['item_id']} {item['question_id']} "
                     f"critical={item['critical']} due {item['due_date']}")  # fmt: skip
        out.critical_item = next(i["item_id"] for i in items if i["question_id"] == critical)
        out.other_item = next(i["item_id"] for i in items if i["question_id"] != critical)

        async def in_the_programme() -> bool:
            # the plan's country comes with the completion, its items with the findings: after
            # a restart either may come first, and the plan is the country programme's once both
            # arrived (until then the headquarters' only)
            response = await self.request(
                assessor, "remediation", "GET", f"/v1/improvement-plans/{factory_id}"
            )
            return response.status_code == 200 and response.json()["country"] == out.country

        await self.eventually("the plan in the country programme", in_the_programme)
        self.say("remediation", f"the plan is in the {out.country} programme's hands")

        self.say("story", "6. The buyer's portfolio shows the factory and its report")
        entry = await self.portfolio_entry(
            buyer, "the buyer's portfolio",
            lambda entry: bool(entry.get("latest_report"))
            and (entry.get("improvement_plan") or {}).get("total") == len(non_compliant),
        )  # fmt: skip
        report = entry["latest_report"]
        self.say("buyer_sharing", f"portfolio: {entry['name']}, report {report['assessment_id']}, "
                 f"{entry['open_critical_issues']} open critical issue(s), "
                 f"plan of {entry['improvement_plan']['total']} items, "
                 f"published: {entry['improvement_plan'].get('published')}")  # fmt: skip
        if report["assessment_id"] != assessment_id or entry["open_critical_issues"] != 1:
            raise StoryError(f"unexpected portfolio entry {entry}")

        self.say("story", "7. The buyer's webhook receives the report and its non-compliances, "
                 "signed; the plan is the factory's draft until it publishes it")  # fmt: skip
        report_webhooks = await self.webhooks(
            "the report's webhooks", 0, AssessmentCompleted=1, NonComplianceFound=len(non_compliant)
        )
        await credential.download_the_credential(
            self, buyer, only(report_webhooks, "AssessmentCompleted")
        )

        await publication.publish_the_plan(self, own_factory)
        await publication.start_on_the_critical_item(self, own_factory)
        await training.train_the_factory(self, admin, cluster)
        await self.pause("delivered")
        await training.advisory_visit(self, assessor)
        await publication.finish_the_critical_item(self, own_factory, assessor)
        await self.pause("verified")
        await training.what_everyone_sees(self, buyer, own_factory)
        log = await self.call(
            "buyer", buyer, "notifications", "GET",
            f"/v1/messages?endpoint_id={buyer_endpoint}&limit=100",
        )  # fmt: skip
        logged = Counter(message["event_type"] for message in log["items"])
        if logged != out.expected:
            raise StoryError(f"the buyer's message log {dict(logged)} != {dict(out.expected)}")
        self.say("notifications", f"the buyer's message log holds {sum(logged.values())} "
                 "messages, as many as it received")  # fmt: skip

        self.say("story", "14. The factory revokes the buyer's access")
        await self.call(
            "factory", own_factory, "buyer_sharing", "POST",
            f"/v1/sharing-grants/{factory_id}/{buyer_id}/revoke",
            body={"reason": "end of the business relationship"},
        )  # fmt: skip
        await self.call(
            "buyer", buyer, "buyer_sharing", "GET",
            f"/v1/buyers/{buyer_id}/factories/{factory_id}/reports", expect=404,
        )  # fmt: skip
        self.say("buyer_sharing", "the buyer's report request is a 404: the factory is not shared")

        self.say("story", "15. The plan changes again: the other buyer hears of it, this one not")
        await self.call(
            "factory", own_factory, "remediation", "POST",
            f"/v1/improvement-plans/{factory_id}/items/{out.other_item}/status",
            body={"status": "in_progress"},
        )  # fmt: skip

        def witnessed() -> bool:
            return any(
                delivery.event.get("data", {}).get("item", {}).get("item_id") == out.other_item
                and delivery.event["data"]["item"].get("status") == "in_progress"
                for delivery in self.receiver.applied.get(out.witness_path, [])
            )

        try:
            await self.receiver.wait_for(witnessed, self.wait_seconds)
        except TimeoutError:
            raise StoryError("the other buyer never received the last plan update") from None
        self.say("buyer", "the other buyer received the last plan update; this buyer did not")
        log = await self.call(
            "buyer", buyer, "notifications", "GET",
            f"/v1/messages?endpoint_id={buyer_endpoint}&limit=100", quiet=True,
        )  # fmt: skip
        # what the buyer may read of the log once revoked: nothing about the factory (the message
        # log follows the one consent rule), so it is empty now
        if log["items"]:
            raise StoryError(f"the revoked buyer still reads {len(log['items'])} messages")
        self._check_received()
        self.say("notifications", "the buyer's message log shows nothing of the factory any more, "
                 "and nothing reached the buyer after the revocation")  # fmt: skip
        credential.verify_offline(self)

    async def _register_endpoint(self, auth: dict[str, str], path: str, types: list[str]) -> str:
        endpoint = await self.call(
            "buyer", auth, "notifications", "POST", "/v1/webhook-endpoints", expect=201,
            body={"url": self.receiver.url(path), "event_types": types,
                  "description": "demo receiver"},
        )  # fmt: skip
        self.receiver.expect(path, endpoint["secret"])
        self.say("notifications", f"endpoint {endpoint['endpoint_id']} for {types}")
        return str(endpoint["endpoint_id"])

    async def _pick_questions(
        self, assessor: dict[str, str]
    ) -> tuple[str, str, list[str], list[str]]:
        """A critical (not zero-tolerance) question (with its cluster) and a few ordinary ones
        found non-compliant; every other critical question compliant (completion needs each
        critical one answered), from the catalogue the assessment service serves for Cambodia."""
        catalogue = await self.call(
            "assessor", assessor, "assessment", "GET",
            f"/v1/compliance-catalogue?country={self.outcome.country}",
        )  # fmt: skip
        questions = [
            (cluster["id"], question)
            for cluster in catalogue["clusters"]
            for point in cluster["points"]
            for question in point["questions"]
        ]
        cluster, critical = next(
            (c, q["id"]) for c, q in questions if q["critical"] and not q["zero_tolerance"]
        )
        others = [q["id"] for _c, q in questions if not q["critical"]][:NON_CRITICAL_FINDINGS]
        compliant = [q["id"] for _c, q in questions if q["critical"] and q["id"] != critical]
        return critical, cluster, others, compliant

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
        positions = [d for d in received if {"streamid", "streamversion"} & set(d.event)]
        if positions:
            raise StoryError(f"a webhook carried the producer's stream position: {positions[0]}")

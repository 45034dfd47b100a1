"""The stage the story is played on: where the services are, what the story did and what the
buyer received (`Outcome`), and the plumbing every chapter uses (`Stage`): tokens, requests that
check their answer and say what happened, polls, and the buyer's webhooks counted as they arrive
(`story.py`, `publication.py`, `training.py`)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from libs.servicekit.auth import Role, mint_token
from tools.demo.common import StoryError, Unreachable
from tools.demo.receiver import Delivery, WebhookReceiver

Say = Callable[[str, str], None]  # (who, what happened)
Pause = Callable[[str], Awaitable[None]]  # called between steps with the step's name


@dataclass(frozen=True)
class Urls:
    assessment: str = "http://127.0.0.1:8001"
    remediation: str = "http://127.0.0.1:8002"
    buyer_sharing: str = "http://127.0.0.1:8003"
    notifications: str = "http://127.0.0.1:8004"
    advisory: str = "http://127.0.0.1:8005"


@dataclass
class Outcome:
    """What the story did and what the buyer received."""

    factory_id: str = ""
    country: str = "KH"
    assessment_id: str = ""
    buyer_id: str = ""
    buyer_path: str = ""
    witness_path: str = ""
    critical_item: str = ""
    other_item: str = ""
    committee_meeting_id: str = ""
    session_id: str = ""
    visit_id: str = ""
    training_participants: int = 0
    training_completions: int = 0
    training_year: int = 0
    credential_id: str = ""
    credential_bundle: dict[str, Any] = field(default_factory=dict)  # as the buyer downloaded it
    expected: Counter[str] = field(default_factory=Counter)  # event name → messages the buyer gets
    received: list[Delivery] = field(default_factory=list)
    duplicates: int = 0


async def _no_pause(_step: str) -> None:
    return None


@dataclass
class Stage:
    """The services (`urls`, with tokens signed by `jwt_secret`), the buyers' `receiver`, the
    narrator (`say`), the tests' hook between steps (`pause`) and what was done (`outcome`)."""

    urls: Urls
    jwt_secret: str
    receiver: WebhookReceiver
    say: Say
    pause: Pause = _no_pause
    wait_seconds: float = 60.0  # how long any one asynchronous effect may take
    credential_bundle_path: str | None = None  # where the buyer keeps its credential bundle
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    outcome: Outcome = field(default_factory=Outcome)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def open(self) -> None:
        for name, url in vars(self.urls).items():
            self._clients[name] = httpx.AsyncClient(base_url=url, timeout=15)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    def token(self, role: Role, subject: str, **claims: Any) -> dict[str, str]:
        token = mint_token(self.jwt_secret, subject, role, **claims)
        return {"Authorization": f"Bearer {token}"}

    async def request(
        self, auth: dict[str, str] | None, service: str, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        try:
            return await self._clients[service].request(method, path, json=body, headers=auth)
        except httpx.HTTPError as error:
            raise Unreachable(f"{service} did not answer {method} {path}: {error!r}") from error

    async def call(
        self,
        who: str,
        auth: dict[str, str] | None,
        service: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        expect: int = 200,
        quiet: bool = False,
    ) -> Any:
        response = await self.request(auth, service, method, path, body)
        if response.status_code != expect:
            raise StoryError(
                f"{service} answered {method} {path} with {response.status_code}, expected "
                f"{expect}: {response.text[:500]}"
            )
        if not quiet:
            self.say(who, f"{method} {service}{path} → {response.status_code}")
        return response.json() if response.content else None

    async def eventually(self, what: str, check: Callable[[], Awaitable[Any]]) -> Any:
        """Poll `check` until it returns something truthy (transport errors count as not yet)."""
        try:
            async with asyncio.timeout(self.wait_seconds):
                while True:
                    try:
                        result = await check()
                    except (httpx.TransportError, Unreachable):
                        result = None
                    if result:
                        return result
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise StoryError(f"{what}: not seen within {self.wait_seconds:.0f} s") from None

    def mark(self) -> int:
        """How many messages the buyer applied so far (`webhooks`' `since`)."""
        return len(self.receiver.applied[self.outcome.buyer_path])

    async def webhooks(self, what: str, since: int, **more: int) -> list[Delivery]:
        """Expect `more` messages (by event name) for the buyer; wait until they arrived and
        return the deliveries after the `since`-th (a `mark()` taken before the step: a message
        may arrive before its step's request returned), in arrival order."""
        path = self.outcome.buyer_path
        self.outcome.expected += Counter(more)
        wanted = +self.outcome.expected

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
        deliveries = self.receiver.applied[path][since:]
        for delivery in deliveries:
            self.say("buyer", f"received {describe(delivery)} (signature verified)")
        return deliveries

    async def portfolio_entry(
        self, buyer: dict[str, str], what: str, ready: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The factory's entry in the buyer's portfolio, once `ready(entry)` holds."""
        out = self.outcome

        async def entry() -> dict[str, Any] | None:
            page = await self.call(
                "buyer", buyer, "buyer_sharing", "GET", f"/v1/buyers/{out.buyer_id}/factories",
                quiet=True,
            )  # fmt: skip
            for item in page["items"]:
                if item["factory_id"] == out.factory_id and ready(item):
                    return dict(item)
            return None

        found: dict[str, Any] = await self.eventually(what, entry)
        return found


def describe(delivery: Delivery) -> str:
    data = delivery.event.get("data") or {}
    detail = ""
    name = delivery.event_name
    if name == "NonComplianceFound":
        detail = f" {data.get('question_id')}" + (" (critical)" if data.get("critical") else "")
    elif name == "ImprovementPlanUpdated":
        item = data.get("item") or {}
        detail = f" {data.get('change')} {item.get('question_id')} → {item.get('status')}"
    elif name == "ImprovementPlanPublished":
        detail = f" with {len(data.get('items') or [])} items"
    elif name == "AssessmentCompleted":
        detail = f" {data.get('assessment_id')}"
    elif name == "TrainingSessionDelivered":
        detail = (f" {data.get('course_code')}: {data.get('participants')} participants, "
                  f"{data.get('completions')} completed")  # fmt: skip
    elif name == "AdvisoryVisitCompleted":
        detail = f" {data.get('duration_days')} day(s), items {list(data.get('plan_item_ids', []))}"
    return f"{name}{detail} [webhook-id {delivery.webhook_id}]"

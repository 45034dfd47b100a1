"""The services' admin HTTP APIs as the operator CLI calls them: dead letters (every service's
`/ops/dead-letters`) and webhook endpoints and recovery (the notifications service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from libs.servicekit.auth import Role, mint_token
from tools.ops.targets import jwt_secret, service_url

TIMEOUT_SECONDS = 30.0


class OperationFailed(Exception):
    """A service answered with a problem; the message is its title and detail."""


def admin_token(explicit: str | None) -> str:
    """`--token`/`BW_OPS_TOKEN` when given (production: from the identity provider), else a
    short-lived development admin token minted with BW_JWT_SECRET."""
    if explicit:
        return explicit
    return mint_token(jwt_secret(), "bw-ops", Role.ADMIN, ttl_seconds=300, countries="*")


def _problem(response: httpx.Response) -> OperationFailed:
    try:
        body = response.json()
        text = f"{body.get('title', '')}: {body.get('detail', '')}".strip(": ")
    except ValueError:
        text = response.text[:300]
    return OperationFailed(
        f"{response.request.method} {response.request.url.path} → {response.status_code} {text}"
    )


class ServiceClient:
    def __init__(self, service: str, token: str, base_url: str | None = None) -> None:
        self.service = service
        self._client = httpx.AsyncClient(
            base_url=base_url or service_url(service),
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_SECONDS,
        )

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise OperationFailed(
                f"{self.service} is not reachable at {self._client.base_url}: {error!r}"
            ) from error
        if response.status_code >= 400:
            raise _problem(response)
        return response.json() if response.content else None

    async def dead_letters(self, include_replayed: bool = False) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = await self._call(
            "GET",
            "/ops/dead-letters",
            params={"include_replayed": str(include_replayed).lower()},
        )
        return letters

    async def replay(self, dead_letter_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/ops/dead-letters/{dead_letter_id}/replay"
        )
        return result

    async def webhook_endpoints(self) -> list[dict[str, Any]]:
        """Every buyer's endpoints (admin), following the cursor to the end."""
        endpoints: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = await self._call("GET", "/v1/webhook-endpoints", params=params)
            endpoints.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return endpoints

    async def enable(self, endpoint_id: str) -> None:
        """Re-enable a disabled endpoint (recovery needs it enabled): PATCH with the version
        just read as If-Match, so a concurrent change is a 412, not overwritten."""
        try:
            current = await self._client.get(f"/v1/webhook-endpoints/{endpoint_id}")
        except httpx.TransportError as error:
            raise OperationFailed(f"{self.service} is not reachable: {error!r}") from error
        if current.status_code >= 400:
            raise _problem(current)
        if current.json()["enabled"]:
            return
        await self._call(
            "PATCH",
            f"/v1/webhook-endpoints/{endpoint_id}",
            json={"enabled": True},
            headers={"If-Match": current.headers.get("ETag", "")},
        )

    async def recover(self, endpoint_id: str, since: datetime) -> int:
        receipt = await self._call(
            "POST",
            "/v1/deliveries/recover",
            json={"endpoint_id": endpoint_id, "since": since.isoformat()},
        )
        return int(receipt["recovering"])

"""The identity provider's token-signing keys (a JWKS document), fetched over HTTP without blocking
the event loop, cached by key id, refreshed in the background, and kept while the provider is
unreachable.

Rules:
- one fetch at a time: concurrent callers share the one in flight;
- a refresh every `refresh_seconds` (sooner, every `min_refetch_seconds`, after a failed one);
- a token with an unknown `kid` triggers a fetch (the provider may have rotated its keys), at most
  once per `min_refetch_seconds`, so forged kids cannot turn us into a flood against the provider;
- a failed fetch (provider down, bad document) keeps the last good keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from libs.servicekit.problems import ServiceUnavailable, Unauthorized

logger = logging.getLogger("libs.servicekit.jwks")

FETCH_TIMEOUT_SECONDS = 5.0
REFRESH_SECONDS = 300.0
MIN_REFETCH_SECONDS = 30.0
# A key set is a few kilobytes; anything far larger is not one.
MAX_DOCUMENT_BYTES = 512 * 1024
ALGORITHM = "RS256"


class JwksError(ValueError):
    """The document is not a JWKS with at least one usable RS256 signing key."""


def parse_jwks(document: Any) -> dict[str, Any]:
    """`{"keys": [...]}` → {kid: public key} of the RS256 signing keys; others are skipped, so
    that a provider that also publishes e.g. encryption keys still works."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('not a JWKS document (no "keys" list)')
    keys: dict[str, Any] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        kid = jwk.get("kid", "")
        if not isinstance(kid, str):
            continue
        try:
            keys[kid] = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
        except (jwt.PyJWKError, ValueError, TypeError):
            logger.warning("JWKS key %r is not a valid RSA key; skipped", kid)
    if not keys:
        raise JwksError("no RS256 signing key in the JWKS document")
    return keys


class JwksKeySet:
    """Signing keys from `url`. A `Lifecycle` component (start/stop); it also starts itself on
    first use, on the running event loop, when nobody called `start`."""

    def __init__(
        self,
        url: str,
        *,
        allow_insecure_http: bool = False,
        refresh_seconds: float = REFRESH_SECONDS,
        min_refetch_seconds: float = MIN_REFETCH_SECONDS,
        fetch_timeout_seconds: float = FETCH_TIMEOUT_SECONDS,
    ) -> None:
        parts = urlsplit(url)
        if not parts.hostname or parts.scheme not in ("https", "http"):
            raise ValueError(f"not an http(s) JWKS URL: {url!r}")
        # Keys fetched over plain http could be swapped by anyone on the path, and with them
        # every token; only development (BW_ENVIRONMENT=development) and tests may allow it.
        if parts.scheme != "https" and not allow_insecure_http:
            raise ValueError(f"the JWKS URL must use https: {url!r}")
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.fetch_timeout_seconds = fetch_timeout_seconds
        self.fetches = 0  # attempts, successful or not (for tests and debugging)
        self._keys: dict[str, Any] = {}
        self._last_attempt: float | None = None  # time.monotonic() of the last fetch attempt
        self._last_ok = False  # whether that attempt succeeded
        self._refresher: asyncio.Task[None] | None = None
        self._in_flight: asyncio.Task[bool] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Fetch the keys once (a failure is logged, not raised: the provider may come back
        before the first token arrives), then keep them fresh in the background."""
        await self._fetch_shared()
        self._ensure_refresher()

    async def stop(self) -> None:
        for task in (self._refresher, self._in_flight):
            if task is not None and not task.done() and _on_this_loop(task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresher = self._in_flight = None

    # -- lookup ------------------------------------------------------------------------------------
    async def key_for(self, kid: str | None) -> Any:
        """The public key for a token's `kid`: `Unauthorized` when the provider does not
        publish it, `ServiceUnavailable` when no keys could ever be fetched."""
        self._ensure_refresher()
        key = self._lookup(kid)
        if key is None and self._may_refetch():
            await self._fetch_shared()
            key = self._lookup(kid)
        if key is not None:
            return key
        if not self._keys:
            raise ServiceUnavailable("The token signing keys cannot be fetched.")
        raise Unauthorized("The token's signing key is unknown.", invalid_token=True)

    def _lookup(self, kid: str | None) -> Any:
        if kid is None:
            # a token without a kid is unambiguous only when there is one key
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refetch(self) -> bool:
        if self._in_flight is not None and not self._in_flight.done():
            return True  # joining a fetch in progress costs the provider nothing
        return (
            self._last_attempt is None
            or time.monotonic() - self._last_attempt >= self.min_refetch_seconds
        )

    # -- fetching ----------------------------------------------------------------------------------
    def _ensure_refresher(self) -> None:
        refresher = self._refresher
        if refresher is None or refresher.done() or not _on_this_loop(refresher):
            self._refresher = asyncio.get_running_loop().create_task(
                self._refresh_forever(), name=f"jwks-refresh {self.url}"
            )

    async def _refresh_forever(self) -> None:
        while True:
            # after a failure, retry as soon as the rate limit allows
            interval = self.refresh_seconds if self._last_ok else self.min_refetch_seconds
            if self._last_attempt is not None:
                elapsed = time.monotonic() - self._last_attempt
                await asyncio.sleep(max(0.0, interval - elapsed))
            await self._fetch_shared()

    async def _fetch_shared(self) -> bool:
        in_flight = self._in_flight
        if in_flight is None or in_flight.done() or not _on_this_loop(in_flight):
            in_flight = asyncio.get_running_loop().create_task(self._fetch())
            self._in_flight = in_flight
        # shielded: a caller that gives up (its request was cancelled) must not cancel the fetch
        # the others are waiting for
        return await asyncio.shield(in_flight)

    async def _fetch(self) -> bool:
        self._last_attempt = time.monotonic()
        self.fetches += 1
        try:
            keys = await asyncio.wait_for(self._download(), self.fetch_timeout_seconds)
        except (httpx.HTTPError, ValueError, TimeoutError) as error:
            self._last_ok = False
            logger.warning(
                "fetching the JWKS from %s failed (%s: %s); keeping the %d key(s) we have",
                self.url,
                type(error).__name__,
                error,
                len(self._keys),
            )
            return False
        self._last_ok = True
        if set(keys) != set(self._keys):
            logger.info("JWKS from %s: key ids %s", self.url, sorted(keys))
        self._keys = keys
        return True

    async def _download(self) -> dict[str, Any]:
        # redirects are not followed: one to plain http would undo the https rule
        async with (
            httpx.AsyncClient(timeout=self.fetch_timeout_seconds) as client,
            client.stream("GET", self.url, headers={"Accept": "application/json"}) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JwksError(f"the JWKS document exceeds {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(bytes(body))
        except ValueError as error:
            raise JwksError(f"the JWKS document is not JSON: {error}") from None
        return parse_jwks(document)


def _on_this_loop(task: asyncio.Task[Any]) -> bool:
    try:
        return task.get_loop() is asyncio.get_running_loop()
    except RuntimeError:
        return False

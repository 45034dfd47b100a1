"""The SSRF-safe HTTP client of webhook deliveries (aiohttp), and one signed attempt with it.

For every new connection the connector asks `GuardedResolver` for the host's addresses; it
resolves the name, checks every address against the address policy (ssrf.py) and hands back only
those checked addresses, so the connection goes to an address we checked: a DNS answer that
changes between the check and the connection (rebinding) cannot reach anything else. aiohttp
connects to the resolver's address while the TLS handshake sends the URL's host name (SNI) and
verifies the certificate against it; the `Host` header is the original host. The DNS cache is
off, so every new connection is checked again; a kept-alive connection stays on the address it
was checked for.

URLs whose host is an IP literal never reach a resolver (aiohttp connects to them directly), so
`WebhookClient.post` checks the URL and such addresses itself before each request.

Connections are pooled per endpoint (a session of its own each), never shared between
endpoints, nor between names that resolve to the same address (aiohttp keys its pool by name).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from services.notifications.domain import signing
from services.notifications.domain.delivery import (
    RESPONSE_BODY_BYTES,
    RESPONSE_SIZE_LIMIT,
    Attempted,
    Claimed,
    retry_after_seconds,
)
from services.notifications.domain.ssrf import AddressPolicy, Refused, WebhookUrl, is_public

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_POOLED_ENDPOINTS = 1024


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for `host` (without blocking)."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=10
        )
    except (OSError, TimeoutError, UnicodeError) as error:
        # UnicodeError: a name the system cannot IDNA-encode (parse_url lets none through)
        raise Refused(f"{host} does not resolve: {error}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(
    url: str, policy: AddressPolicy, resolver: Resolver = system_resolver
) -> WebhookUrl:
    """Registration's check: the URL parsed (its host in ASCII), its scheme, and every address
    its host resolves to now; the parsed URL."""
    parsed = policy.check_url(url)
    policy.check_addresses(parsed.host, await resolver(parsed.host, parsed.port))
    return parsed


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for deliveries: only addresses the policy accepts, or `Refused`."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        self.resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        host = host.strip("[]")
        checked = self.policy.check_addresses(host, await self.resolver(host, port))
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in checked
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Answer:
    status_code: int
    retry_after: str | None
    # the first RESPONSE_BODY_BYTES of the answer, as sent (not decompressed), only when the
    # receiver is at a public address: what an address reachable only through the operator's
    # allow-list answers is no buyer's to read
    body: str | None
    size: int  # bytes of the answer read, at most RESPONSE_SIZE_LIMIT


class WebhookClient:
    """POSTs webhooks: no redirects, no cookies, no proxies from the environment, certificates
    verified by `verify`; at most `per_endpoint_connections` connections per endpoint."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        per_endpoint_connections: int = 8,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = GuardedResolver(policy, resolver)
        self.per_endpoint_connections = per_endpoint_connections
        self.verify = verify or ssl.create_default_context()
        self._sessions: OrderedDict[str, aiohttp.ClientSession] = OrderedDict()

    def _session(self, owner: str) -> aiohttp.ClientSession:
        session = self._sessions.get(owner)
        if session is None:
            connector = aiohttp.TCPConnector(
                resolver=self.resolver,
                use_dns_cache=False,  # every new connection resolves and checks again
                ssl=self.verify,
                limit=self.per_endpoint_connections,
                limit_per_host=0,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                skip_auto_headers=("Accept-Encoding",),
            )
            self._sessions[owner] = session
            while len(self._sessions) > MAX_POOLED_ENDPOINTS:
                _, evicted = self._sessions.popitem(last=False)
                asyncio.get_running_loop().create_task(evicted.close())
        else:
            self._sessions.move_to_end(owner)
        return session

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, owner: str = ""
    ) -> Answer:
        """One POST to `url` on the pool of `owner` (the endpoint id). The caller bounds it in
        time. Raises `Refused` (the URL or an address is refused), `aiohttp.ClientError`."""
        host = self.policy.check_url(url).host
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            pass  # a name: the resolver checks what it resolves to, per connection
        else:
            self.policy.check_addresses(host, [str(literal)])
        async with self._session(owner).post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            public = _from_public_address(response)
            received = b""
            size = 0
            while size < RESPONSE_SIZE_LIMIT:
                chunk = await response.content.read(RESPONSE_SIZE_LIMIT - size)
                if not chunk:
                    break
                size += len(chunk)
                if len(received) < RESPONSE_BODY_BYTES:
                    received += chunk[: RESPONSE_BODY_BYTES - len(received)]
            return Answer(
                response.status,
                response.headers.get("retry-after"),
                received.decode("utf-8", errors="replace") if public else None,
                size,
            )

    async def aclose(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()


def _from_public_address(response: aiohttp.ClientResponse) -> bool:
    """Whether the answer came from a globally routable address (the connection's peer)."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    peer: Any = transport.get_extra_info("peername") if transport is not None else None
    return isinstance(peer, tuple) and bool(peer) and is_public(str(peer[0]))


async def attempt(client: WebhookClient, message: Claimed, timeout: float) -> Attempted:
    """One signed POST of the message within `timeout`, and what came of it: a status, or the
    error (refused, timed out, no connection). Never raises: an attempt's outcome is not lost."""
    at = datetime.now(UTC)
    started = time.monotonic()
    status_code: int | None = None
    body: str | None = None
    size: int | None = None
    error: str | None = None
    retry_after: float | None = None
    try:
        headers = signing.headers(
            message.keys, message.message_id, int(time.time()), message.payload
        )
        async with asyncio.timeout(timeout):
            answer = await client.post(
                message.url, message.payload, headers, owner=message.endpoint_id
            )
        status_code = answer.status_code
        body = answer.body
        size = answer.size
        if 300 <= status_code < 400:
            error = f"redirect ({status_code}) not followed"
        retry_after = retry_after_seconds(status_code, answer.retry_after)
    except Refused as refused:
        error = f"refused: {refused.detail}"
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except aiohttp.ClientError as failure:
        error = f"{type(failure).__name__}: {failure}"[:500]
    except Exception as failure:  # never lose the outcome of an attempt
        log.exception("webhook attempt %s failed unexpectedly", message.message_id)
        error = f"{type(failure).__name__}: {failure}"[:500]
    latency_ms = int((time.monotonic() - started) * 1000)
    return Attempted(message, at, status_code, latency_ms, body, error, retry_after, size)

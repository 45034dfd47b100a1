"""The SSRF-safe HTTP transport of webhook deliveries.

For every request it resolves the host, checks every address against the address policy
(ssrf.py), and connects to the checked address itself: a DNS answer that changes between the
check and the connection (rebinding) cannot reach anything else. The TLS handshake still sends
the original host name (SNI) and verifies the certificate against it; the `Host` header is the
original host. Connections are pooled per endpoint and host name, never shared between names that resolve to
the same address, nor between endpoints.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import httpx

from services.notifications.ssrf import AddressPolicy, Refused

Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_POOLED_HOSTS = 1024
POOL_KEY = "bw_pool"
"""Request extension naming who owns the connection pool (the endpoint id)."""


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
    except (OSError, TimeoutError) as error:
        raise Refused(f"{host} does not resolve: {error}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str, policy: AddressPolicy, resolver: Resolver = system_resolver) -> None:
    """Registration's check: the URL's scheme and every address its host resolves to now."""
    _scheme, host, port = policy.check_url(url)
    policy.check_addresses(host, await resolver(host.strip("[]"), port))


class GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        per_host_connections: int = 8,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.per_host_connections = per_host_connections
        self.verify = verify
        self._pools: OrderedDict[str, httpx.AsyncHTTPTransport] = OrderedDict()

    def _pool(self, key: str) -> httpx.AsyncHTTPTransport:
        pool = self._pools.get(key)
        if pool is None:
            pool = httpx.AsyncHTTPTransport(
                verify=self.verify,
                limits=httpx.Limits(
                    max_connections=self.per_host_connections,
                    max_keepalive_connections=self.per_host_connections,
                ),
                retries=0,
            )
            self._pools[key] = pool
            while len(self._pools) > MAX_POOLED_HOSTS:
                _, evicted = self._pools.popitem(last=False)
                asyncio.get_running_loop().create_task(evicted.aclose())
        else:
            self._pools.move_to_end(key)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        _scheme, host, port = self.policy.check_url(str(url))
        host = host.strip("[]")
        addresses = self.policy.check_addresses(host, await self.resolver(host, port))
        address = addresses[0]
        # connect to the address we checked; TLS and Host keep the name the buyer registered
        request.url = url.copy_with(host=str(address))
        extensions = dict(request.extensions)
        # one pool per endpoint (when the caller names it) and host: a hanging endpoint holds
        # only its own connections, even when other endpoints live on the same host
        owner = extensions.pop(POOL_KEY, "")
        request.extensions = {**extensions, "sni_hostname": host}
        if "host" not in request.headers:
            request.headers["host"] = url.netloc.decode("ascii")
        return await self._pool(f"{owner} {url.scheme}://{host}:{port}").handle_async_request(
            request
        )

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.aclose()

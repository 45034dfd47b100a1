"""A small in-process token bucket per client address, for the public transparency pages, and
which address that is (`client_address`).

In-process on purpose: each replica limits what it serves (the limit per client is then at most
replicas times rate, which is what protects a replica); no shared store to run. See
docs/libraries.md for why no library.

The client is the TCP peer, unless the peer is one of the configured trusted proxies
(`BW_TRUSTED_PROXIES`: the ingress); then it is the right-most address of `X-Forwarded-For` that
is not a trusted proxy. Each proxy appends the address it received the request from, so entries
to the left of the first untrusted one were written by the client and are never believed.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# the longest text an address entry may be (a bracketed IPv6 address with a zone and a port)
MAX_ENTRY = 64


def trusted_networks(spec: str) -> tuple[Network, ...]:
    """`BW_TRUSTED_PROXIES`: comma-separated CIDRs or addresses; empty trusts no proxy. A value
    that is neither is a ValueError naming it (the service does not start)."""
    networks = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a CIDR or an IP address") from None
    return tuple(networks)


def _address(entry: str) -> Address | None:
    """The address of one `X-Forwarded-For` entry (`1.2.3.4`, `1.2.3.4:80`, `::1`,
    `[::1]:80`), or None when it is none."""
    entry = entry.strip()
    if not entry or len(entry) > MAX_ENTRY:
        return None
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return ipaddress.ip_address(entry)
    except ValueError:
        return None


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """Whom a request counts against: see the module docstring. From a trusted proxy, the
    header's entries are read from the right, skipping trusted proxies; an entry that is not an
    address ends the reading at the hop that wrote it; only trusted hops (or none): the
    left-most of them."""
    if peer is None:
        return "unknown"
    hop = _address(peer)
    if hop is None or not _trusted(hop, trusted):
        return peer
    entries = [entry for value in forwarded_for for entry in value.split(",")]
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            break
        if not _trusted(address, trusted):
            return str(address)
        hop = address
    return str(hop)


# Buckets kept at most (least recently used ones are dropped: a dropped client starts full).
MAX_CLIENTS = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self, rate_per_second: float, burst: int, max_clients: int = MAX_CLIENTS) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Take one token; 0 when allowed, else the seconds until one is available."""
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait_seconds: float) -> int:
        """Whole seconds for the Retry-After header (at least 1)."""
        return max(1, math.ceil(wait_seconds))

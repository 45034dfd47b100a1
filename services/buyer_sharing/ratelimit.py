"""A small in-process token bucket per client address, for the public transparency pages.

In-process on purpose: each replica limits what it serves (the limit per client is then at most
replicas times rate, which is what protects a replica); no shared store to run. See
docs/libraries.md for why no library.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

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

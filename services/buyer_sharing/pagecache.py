"""The public transparency pages' answers, kept in process per query and per version of the read
models they come from (`read_model_version`, moved in every transaction that changes those read
models): a request reads the version (one row by its key) and, while it has not moved, is answered
with the encoded body and ETag already made, without running the page's queries again. A replica
keeps its own answers; each sees the same version, so none serves an answer older than the read
models it has read the version of."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from services.buyer_sharing.ratelimit import Network, TokenBuckets

CAPACITY = 256  # answers kept (queries differ by page, country, year): the least recent go first


@dataclass(frozen=True)
class Answer:
    version: int
    payload: bytes
    etag: str


class PublicPages:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()

    def get(self, key: Hashable, version: int) -> Answer | None:
        """The answer for `key` made at `version`, if kept."""
        answer = self._answers.get(key)
        if answer is None or answer.version != version:
            return None
        self._answers.move_to_end(key)
        return answer

    def put(self, key: Hashable, version: int, payload: bytes) -> Answer:
        """Keep the answer made from the read models at `version` (read before the queries ran,
        so the body is at least that new; the next version replaces it)."""
        etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
        answer = Answer(version, payload, etag)
        current = self._answers.get(key)
        if current is None or current.version <= version:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)
        return answer


# the settings' defaults (settings.py), for dependencies built without settings (unit tests)
DEFAULT_MAX_AGE_SECONDS = 300
DEFAULT_RATE_PER_SECOND = 5.0
DEFAULT_BURST = 30


@dataclass(frozen=True)
class PublicSite:
    """What serving the public transparency pages keeps in process: the answers made, the
    per-client rate limit and the proxies trusted to name the client, and how long shared caches
    may keep an answer."""

    pages: PublicPages = field(default_factory=PublicPages)
    limiter: TokenBuckets = field(
        default_factory=lambda: TokenBuckets(DEFAULT_RATE_PER_SECOND, DEFAULT_BURST)
    )
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS
    trusted_proxies: tuple[Network, ...] = ()

"""Encoded answers kept in process per query and per version of the read models they come from:
a request reads the version (one row by its key, moved by every transaction that changes those
read models) and, while it has not moved, is answered with the body and ETag already made, without
running its queries again. Each replica keeps its own answers and reads the same version, so none
serves an answer older than the read models it has read the version of. Buyer sharing's public
pages and advisory's public figures use it."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    version: int
    payload: bytes
    etag: str


class VersionedAnswers:
    """At most `capacity` answers, the least recently used going first."""

    def __init__(self, capacity: int) -> None:
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
        so the body is at least that new; a later version replaces it, an older never does)."""
        answer = Answer(version, payload, '"' + hashlib.sha256(payload).hexdigest()[:32] + '"')
        current = self._answers.get(key)
        if current is None or current.version <= version:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)
        return answer

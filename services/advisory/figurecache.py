"""The public programme figures' answers, kept in process per query and per version of the
figures (`figures_version`, moved by every transaction that changes them): a request reads the
version (one row by its key) and, while it has not moved, is answered with the body and ETag
already made, without grouping, totalling and publishing the cells again. Each replica keeps its
own answers and reads the same version, so none serves figures older than those it has read the
version of."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

CAPACITY = 128  # answers kept (queries differ by country, course, years and grouping)


@dataclass(frozen=True)
class Answer:
    version: int
    payload: bytes
    etag: str


class FigureAnswers:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()

    def get(self, key: Hashable, version: int) -> Answer | None:
        answer = self._answers.get(key)
        if answer is None or answer.version != version:
            return None
        self._answers.move_to_end(key)
        return answer

    def put(self, key: Hashable, version: int, payload: bytes) -> Answer:
        """Keep the answer made from the figures at `version` (read before the query ran, so
        the body is at least that new; a later version replaces it)."""
        answer = Answer(version, payload, '"' + hashlib.sha256(payload).hexdigest()[:32] + '"')
        current = self._answers.get(key)
        if current is None or current.version <= version:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)
        return answer

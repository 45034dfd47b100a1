"""Delivery policy (pure): the retry schedule with jitter, what an HTTP answer means, and how long
a `Retry-After` asks us to wait."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

# Standard Webhooks: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
STANDARD_SCHEDULE: tuple[float, ...] = (
    0,
    5,
    300,
    1800,
    7200,
    18000,
    36000,
    50400,
    72000,
    86400,
)
# A Retry-After longer than this is read as this: a receiver cannot stall a message for days.
MAX_RETRY_AFTER_SECONDS = 86400.0
RESPONSE_BODY_BYTES = 1024


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"  # failed; tried again later if the schedule has attempts left
    GONE = "gone"  # 410: the endpoint is disabled at once


@dataclass(frozen=True)
class Schedule:
    """Delays before each attempt (the first is usually 0), spread by ±`jitter` of each delay."""

    delays: Sequence[float] = STANDARD_SCHEDULE
    jitter: float = 0.2

    @property
    def attempts(self) -> int:
        return len(self.delays)

    def delay_after(self, attempts_made: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after `attempts_made` attempts of this round, or None
        when the schedule is spent. A `Retry-After` never shortens the schedule's own delay."""
        if attempts_made >= len(self.delays):
            return None
        delay = self.delays[attempts_made]
        delay *= random.uniform(1 - self.jitter, 1 + self.jitter) if delay else 1
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return delay


def parse_schedule(text: str) -> tuple[float, ...]:
    delays = tuple(float(part) for part in text.split(",") if part.strip())
    if not delays or any(delay < 0 for delay in delays):
        raise ValueError("a retry schedule is a comma-separated list of delays >= 0 in seconds")
    return delays


def outcome_of(status_code: int) -> Outcome:
    """2xx succeeds; 410 disables; everything else (redirects included) is a failure to retry."""
    if 200 <= status_code < 300:
        return Outcome.SUCCEEDED
    if status_code == 410:
        return Outcome.GONE
    return Outcome.RETRY


def retry_after_seconds(
    status_code: int, header: str | None, now: datetime | None = None
) -> float | None:
    """The wait a 429 or 503 asks for (seconds or an HTTP date); None otherwise or when invalid."""
    if status_code not in (429, 503) or not header:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

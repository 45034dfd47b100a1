"""Delivery policy (pure): the retry schedule with jitter, what an HTTP answer means, how long a
`Retry-After` asks us to wait, what an attempt's outcome does to its message and endpoint, and
the per-endpoint rate limit."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
# what is kept of a receiver's answer: its first bytes (only from a public address), and its
# size, counted up to a bound (an answer is read no further)
RESPONSE_BODY_BYTES = 1024
RESPONSE_SIZE_LIMIT = 65536


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


@dataclass
class Claimed:
    """A message claimed for one attempt, with the keys that sign it."""

    message_id: str
    endpoint_id: str
    url: str
    payload: bytes
    attempts: int
    round_attempts: int
    created_at: datetime
    keys: list[bytes]
    lease: int = 0  # the claim this attempt belongs to


@dataclass
class Attempted:
    """What one attempt gave: an HTTP status, or an error (refused, timed out, no connection);
    of the answer, its first bytes (`body`, only from a receiver at a public address) and its
    size in bytes (counted up to RESPONSE_SIZE_LIMIT)."""

    claimed: Claimed
    at: datetime
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: float | None
    size: int | None = None


@dataclass(frozen=True)
class Disabling:
    """An attempt's case for disabling its endpoint: `gone` (410) at once; `failing` (a message
    spent its whole schedule) unless the endpoint succeeded with anything `since` that message
    was created."""

    reason: str
    detail: str
    since: datetime


@dataclass(frozen=True)
class Verdict:
    """What an attempt's outcome makes of its message: its status, when it is due again, the
    error to log, and whether the endpoint should be disabled."""

    outcome: Outcome
    status: str  # succeeded, pending, failed
    next_attempt_at: datetime | None
    error: str | None
    disabling: Disabling | None = None


def judge(attempted: Attempted, schedule: Schedule) -> Verdict:
    """The verdict on one attempt; a failure is retried while its round's schedule lasts."""
    message = attempted.claimed
    status_code = attempted.status_code
    outcome = outcome_of(status_code) if status_code is not None else Outcome.RETRY
    error = attempted.error or (None if outcome is Outcome.SUCCEEDED else f"HTTP {status_code}")
    if outcome is Outcome.SUCCEEDED:
        return Verdict(outcome, "succeeded", None, error)
    if outcome is Outcome.GONE:
        gone = Disabling("gone", "the receiver answered 410 Gone", message.created_at)
        return Verdict(outcome, "failed", None, error, gone)
    delay = schedule.delay_after(message.round_attempts + 1, attempted.retry_after)
    if delay is None:
        detail = f"message {message.message_id} failed every attempt"
        return Verdict(
            outcome, "failed", None, error, Disabling("failing", detail, message.created_at)
        )
    return Verdict(outcome, "pending", attempted.at + timedelta(seconds=delay), error)


def trigger(claimed: Claimed) -> str:
    """`manual` for the first attempt of a redelivered or recovered message, else `scheduled`."""
    return "manual" if claimed.round_attempts == 0 and claimed.attempts else "scheduled"


def endpoints_to_disable(judged: Iterable[tuple[Attempted, Verdict]]) -> dict[str, Disabling]:
    """One case per endpoint from a batch of applied verdicts: a 410 wins over a spent schedule,
    otherwise the first one counts."""
    disable: dict[str, Disabling] = {}
    for attempted, verdict in judged:
        disabling = verdict.disabling
        if disabling is not None:
            endpoint_id = attempted.claimed.endpoint_id
            if disabling.reason == "gone" or endpoint_id not in disable:
                disable[endpoint_id] = disabling
    return disable


class TokenBucket:
    """An endpoint's rate: `rate` attempts a second on average, bursts of up to `rate`."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.updated = time.monotonic()

    def available(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return self.tokens

    def take(self) -> bool:
        if self.available() >= 1:
            self.tokens -= 1
            return True
        return False

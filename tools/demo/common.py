"""What the story's chapters share: its errors and the services' today."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from tools.demo.receiver import Delivery


class StoryError(Exception):
    """The system did not do what the story expects; the message says what and where."""


class Unreachable(StoryError):
    """A service did not answer at all (it may be restarting: polls try again)."""


def today() -> date:
    """The services' today (UTC)."""
    return datetime.now(UTC).date()


def only(deliveries: Sequence[Delivery], name: str) -> Delivery:
    """The one delivery of the event `name` among `deliveries`."""
    found = [delivery for delivery in deliveries if delivery.event_name == name]
    if len(found) != 1:
        raise StoryError(f"expected one {name}, received {len(found)}")
    return found[0]

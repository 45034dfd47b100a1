"""Identifiers of notifications (pure). A message id is derived from (endpoint, event), so a
redelivered upstream event queues nothing new, and it is the `webhook-id` of every attempt."""

from __future__ import annotations

import uuid

_MESSAGES = uuid.UUID("6d3c8a52-4f0e-4a43-9a55-8f1f4f1d2b10")


def new_endpoint_id() -> str:
    return f"ep_{uuid.uuid4().hex}"


def new_secret_id() -> str:
    return f"sec_{uuid.uuid4().hex}"


def message_id(endpoint_id: str, event_id: str) -> str:
    """The same (endpoint, event) always gives the same message id."""
    return f"msg_{uuid.uuid5(_MESSAGES, f'{endpoint_id}/{event_id}').hex}"


def test_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"

"""Identifiers of the remediation service: stream prefixes and the derived ids of items (pure)."""

from __future__ import annotations

import uuid

from libs.domain.identifiers import name_id

PLAN_STREAM_PREFIX = "improvement-plan-"
COMMITTEE_STREAM_PREFIX = "committee-"
# the advisory service's sessions and visits recorded for a factory's plan items
CAPACITY_STREAM_PREFIX = "capacity-building-"

ITEM_NAMESPACE = "6f1c1a52-3c0e-4c55-9a43-2b7f1c0d9e21"


def plan_stream_id(factory_id: str) -> str:
    return PLAN_STREAM_PREFIX + factory_id


def committee_stream_id(factory_id: str) -> str:
    return COMMITTEE_STREAM_PREFIX + factory_id


def item_id_for(assessment_id: str, question_id: str) -> str:
    """Deterministic, so a redelivered or reordered finding always names the same item."""
    return name_id(ITEM_NAMESPACE, f"{assessment_id}/{question_id}")


def new_id() -> str:
    """A fresh id for a committee member or meeting (decided by the handler, not the domain)."""
    return str(uuid.uuid4())

"""What a publication carries and how large it may be (pure): the one public event of a
publication carries the published plan, and a message on NATS is at most 1 MiB by default, so
a plan whose content would not fit is refused before anything is appended (an event the relay
cannot publish would hold back every later one of the service)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from services.remediation.domain.plan_state import ImprovementItem, Plan, carried_by_publication
from services.remediation.errors import PublicationTooLarge

# the items' share of the publication's message: NATS's default max_payload (1 MiB) less room for
# the envelope, the plan's progress and the headers
PUBLICATION_BUDGET_BYTES = 768 * 1024
# one item's member names, dates, numbers and flags in the public event, beyond its text (21
# members: about 450 bytes at most)
ITEM_FRAME_BYTES = 600


def carried_items(plan: Plan, plan_version: int) -> list[ImprovementItem]:
    """The items the publication at `plan_version` carries, in due-date order."""
    return sorted(
        (item for item in plan.items.values() if carried_by_publication(item, plan_version)),
        key=lambda item: (item.binding_due_date, item.item_id),
    )


def _text_bytes(item: ImprovementItem) -> int:
    """The item's texts as JSON writes them (quoted, escaped, UTF-8): an upper bound of their
    share of the public event, whatever else the item holds."""
    texts = [
        item.item_id,
        item.assessment_id,
        item.cluster_id,
        item.cluster_name,
        item.compliance_point_id,
        item.compliance_point_name,
        item.question_id,
        item.question_text,
        item.root_cause or "",
        item.planned_action or "",
    ]
    return len(json.dumps(texts, ensure_ascii=False).encode())


def publication_size(items: Iterable[ImprovementItem]) -> int:
    """An upper bound, in bytes, of the items' part of the publication's public event."""
    return sum(_text_bytes(item) + ITEM_FRAME_BYTES for item in items)


def check_publication_fits(plan: Plan, plan_version: int) -> None:
    """Refuse a publication whose items would not fit one message."""
    size = publication_size(carried_items(plan, plan_version))
    if size > PUBLICATION_BUDGET_BYTES:
        raise PublicationTooLarge(size, PUBLICATION_BUDGET_BYTES)

"""Identifiers and stream ids of buyer sharing (pure)."""

from __future__ import annotations

import uuid

# `:` never occurs in an identifier (libs.domain.types.ID_PATTERN), so a pair id is unambiguous.
PAIR_SEPARATOR = ":"


def pair_id(factory_id: str, buyer_id: str) -> str:
    """The id of the consent between one factory and one buyer (one SharingGrant aggregate)."""
    return f"{factory_id}{PAIR_SEPARATOR}{buyer_id}"


def split_pair_id(pair: str) -> tuple[str, str]:
    factory_id, _, buyer_id = pair.partition(PAIR_SEPARATOR)
    return factory_id, buyer_id


def new_id(prefix: str) -> str:
    """A fresh identifier such as `req-6f1c…` (letters, digits and `-`: a valid path id)."""
    return f"{prefix}-{uuid.uuid4().hex}"

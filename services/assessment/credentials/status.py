"""The status lists in the service's schema: places for new credentials (the sequence), the lists'
bits (a superseded credential's bit set in the transaction that issued its successor) and their
signed `BitstringStatusListCredential`s, made once per state of a list and key (a list's
`validFrom` is when its bits last changed, and Ed25519 signatures are deterministic: every replica
serves the same token)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.credentials import jose
from libs.credentials.dcc import rfc3339
from libs.credentials.keys import KeyRing
from libs.credentials.status_list import (
    empty_list,
    position,
    postgres_bit,
    status_list_credential,
)
from services.assessment.tables import SCHEMA

_NEXT = text(
    f"SELECT nextval('{SCHEMA}.credential_status_seq') FROM generate_series(1, :count) ORDER BY 1"
)
_ENSURE = text(
    f"""
    INSERT INTO {SCHEMA}.credential_status_list (status_list, bits, version, updated_at)
    SELECT unnest(CAST(:lists AS integer[])), :bits, 0, :at
    ON CONFLICT (status_list) DO NOTHING
    """
)
_READ = text(
    f"""SELECT status_list, bits, version, updated_at FROM {SCHEMA}.credential_status_list
    WHERE status_list = ANY(:lists)"""
)
_SET_BIT = text(
    f"""
    UPDATE {SCHEMA}.credential_status_list
    SET bits = set_bit(bits, :bit, 1), version = version + 1,
        updated_at = greatest(updated_at, :at)
    WHERE status_list = :status_list
    """
)
# signed lists kept per process (a list's token is about a kilobyte)
SIGNED_KEPT = 64


@dataclass(frozen=True)
class ListState:
    status_list: int
    bits: bytes
    version: int
    updated_at: datetime


async def next_places(connection: AsyncConnection, count: int) -> list[tuple[int, int]]:
    """(list, index) for `count` new credentials; the lists exist once this returns."""
    if count <= 0:
        return []
    numbers = (await connection.execute(_NEXT, {"count": count})).scalars().all()
    places = [position(number - 1) for number in numbers]  # a sequence starts at 1
    await connection.execute(
        _ENSURE,
        {
            "lists": sorted({status_list for status_list, _ in places}),
            "bits": empty_list(),
            "at": await _now(connection),
        },
    )
    return places


async def read_lists(connection: AsyncConnection, lists: Collection[int]) -> dict[int, ListState]:
    rows = await connection.execute(_READ, {"lists": sorted(lists)})
    return {
        row.status_list: ListState(row.status_list, bytes(row.bits), row.version, row.updated_at)
        for row in rows
    }


async def mark_superseded(
    connection: AsyncConnection, status_list: int, index: int, at: datetime
) -> None:
    """Set the bit of a superseded credential (0 valid, 1 superseded)."""
    await connection.execute(
        _SET_BIT, {"bit": postgres_bit(index), "status_list": status_list, "at": at}
    )


async def _now(connection: AsyncConnection) -> datetime:
    moment: datetime = (await connection.execute(text("SELECT now()"))).scalar_one()
    return moment


class SignedLists:
    """Each list's signed credential, made once per (list, version, signing key)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[int, int, str], str] = OrderedDict()

    def token(self, state: ListState, ring: KeyRing, did: str, url: str) -> str:
        key = (state.status_list, state.version, ring.active.kid)
        token = self._kept.get(key)
        if token is None:
            payload = status_list_credential(url, did, state.bits, rfc3339(state.updated_at))
            token = jose.sign(payload, ring.active, did)
            self._kept[key] = token
            while len(self._kept) > SIGNED_KEPT:
                self._kept.popitem(last=False)
        self._kept.move_to_end(key)
        return token

"""A credential's row in `credential`, from the event that issued it (the projection inserts it;
the history import and the rebuild write many by COPY), and the status lists' bits as the rows
say (the rebuild)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.credentials.bundle import build_bundle
from libs.credentials.status_list import empty_list, with_bit
from services.assessment.domain.assessment_events import ReportCredentialIssued
from services.assessment.tables import credential, credential_status_list


def credential_row(event: ReportCredentialIssued) -> dict[str, Any]:
    """A credential's row (the history import writes them by COPY)."""
    return {
        "credential_id": event.credential_id,
        "assessment_id": event.assessment_id,
        "factory_id": event.factory_id,
        "revision": event.revision,
        "supersedes": event.supersedes,
        "superseded_by": None,
        "report_date": event.report_date,
        "issued_at": event.issued_at,
        "status_list": event.status_list,
        "status_list_index": event.status_list_index,
        "token": event.credential,
        "bundle": credential_bundle(event),
    }


def credential_bundle(event: ReportCredentialIssued) -> dict[str, Any]:
    """The offline bundle as kept: all but the JSON-LD contexts (the same in every bundle; the
    routes add them)."""
    return build_bundle(
        credential=event.credential,
        report=event.report,
        did_document=event.did_document,
        status_list=event.status_list_credential,
        contexts={},
        history=event.history,
    )


async def status_bits(connection: AsyncConnection) -> None:
    """Each status list's bits set for exactly the superseded credentials in it; a list whose
    bits change gets a new version (its signed credentials kept in processes are out of date)."""
    superseded: dict[int, list[int]] = {}
    rows = await connection.execute(
        select(credential.c.status_list, credential.c.status_list_index).where(
            credential.c.superseded_by.is_not(None)
        )
    )
    for row in rows:
        superseded.setdefault(row.status_list, []).append(row.status_list_index)
    lists = await connection.execute(
        select(credential_status_list.c.status_list, credential_status_list.c.bits)
    )
    for status_list, bits in lists.all():
        expected = empty_list()
        for index in superseded.get(status_list, []):
            expected = with_bit(expected, index)
        if bytes(bits) != expected:
            await connection.execute(
                update(credential_status_list)
                .where(credential_status_list.c.status_list == status_list)
                .values(
                    bits=expected,
                    version=credential_status_list.c.version + 1,
                    updated_at=func.now(),
                )
            )

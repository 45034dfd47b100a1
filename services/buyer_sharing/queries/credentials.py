"""A report's verifiable credentials as buyer sharing keeps them (`report_credential`): the
credentials of a factory's reports for the report list, and one credential's compact vc+jwt or
offline bundle. A credential is superseded when a later revision of its assessment's is here.
The routes check consent first, on the same connection."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import cast, func, select
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.tables import report_credential

Row = dict[str, Any]
Form = Literal["jwt", "bundle"]


async def of_reports(
    connection: AsyncConnection, factory_id: str, assessment_ids: list[str]
) -> dict[str, list[Row]]:
    """Per assessment, its credentials, newest revision first, each with `superseded`."""
    superseded = report_credential.c.revision < func.max(report_credential.c.revision).over(
        partition_by=report_credential.c.assessment_id
    )
    query = (
        select(
            report_credential.c.credential_id,
            report_credential.c.assessment_id,
            report_credential.c.revision,
            report_credential.c.supersedes,
            report_credential.c.issued_at,
            superseded.label("superseded"),
        )
        .where(
            report_credential.c.factory_id == factory_id,
            report_credential.c.assessment_id.in_(assessment_ids),
        )
        .order_by(report_credential.c.assessment_id, report_credential.c.revision.desc())
    )
    found: dict[str, list[Row]] = {assessment_id: [] for assessment_id in assessment_ids}
    for row in await connection.execute(query):
        found[row.assessment_id].append(row._asdict())
    return found


async def one(
    connection: AsyncConnection,
    factory_id: str,
    assessment_id: str,
    revision: int | None,
    form: Form,
) -> Row | None:
    """The credential of the factory's assessment at `revision` (None: the latest): its id,
    revision, `superseded` and `document` (the compact vc+jwt, or the bundle's JSON)."""
    newer = report_credential.alias("newer")
    superseded = (
        select(newer.c.credential_id)
        .where(
            newer.c.assessment_id == report_credential.c.assessment_id,
            newer.c.revision > report_credential.c.revision,
        )
        .exists()
    )
    bundle = report_credential.c.bundle
    # the vc+jwt is the bundle's `credential` (kept once: it is most of a bundle's size)
    document = cast(bundle, JSON)["credential"].astext if form == "jwt" else bundle
    query = (
        select(
            report_credential.c.credential_id,
            report_credential.c.revision,
            superseded.label("superseded"),
            document.label("document"),
        )
        .where(
            report_credential.c.factory_id == factory_id,
            report_credential.c.assessment_id == assessment_id,
        )
        .order_by(report_credential.c.revision.desc())
        .limit(1)
    )
    if revision is not None:
        query = query.where(report_credential.c.revision == revision)
    row = (await connection.execute(query)).first()
    return row._asdict() if row is not None else None

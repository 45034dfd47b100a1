"""A shared report's verifiable credential, as the assessment service issued it: the compact
`vc+jwt` or the offline verification bundle, for a buyer with a grant in force (and admins of the
factory's country programme reading that buyer's portfolio); 404 otherwise, as for every read of
the factory. Where the report list links them (`links`)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Response

from libs.domain.errors import NotFound
from libs.servicekit.types import PathId
from services.buyer_sharing.api.common import AdminOrBuyer, Deps, own_buyer, within_programme
from services.buyer_sharing.queries import consent, credentials

router = APIRouter(prefix="/v1/buyers", tags=["buyers"])

JWT_MEDIA_TYPE = "application/vc+jwt"
BUNDLE_MEDIA_TYPE = "application/vnd.betterwork.credential-bundle+json"
# a credential never changes, but access to it ends with the grant: every use asks again
CACHE_CONTROL = "private, no-cache"

Format = Annotated[
    Literal["jwt", "bundle"],
    Query(
        alias="format",
        description="`jwt`: the compact credential; `bundle`: the offline verification bundle.",
    ),
]
Revision = Annotated[
    int | None,
    Query(ge=0, le=2**31 - 1, description="A revision of the report's credential (default: the "
          "latest)."),
]  # fmt: skip


def _path(buyer_id: str, factory_id: str, assessment_id: str) -> str:
    parts = (quote(buyer_id, safe=""), quote(factory_id, safe=""), quote(assessment_id, safe=""))
    return "/v1/buyers/{}/factories/{}/reports/{}/credential".format(*parts)


def links(buyer_id: str, factory_id: str, report: dict[str, Any]) -> dict[str, Any]:
    """The report's `credential` (the latest) and `credentials` (every revision, newest first),
    each with the hrefs of its revision, from its `credentials` rows (queries.credentials)."""
    path = _path(buyer_id, factory_id, report["assessment_id"])
    issued = [
        {
            "id": row["credential_id"],
            "revision": row["revision"],
            "supersedes": row["supersedes"],
            "issued_at": row["issued_at"],
            "superseded": row["superseded"],
            "href": f"{path}?revision={row['revision']}",
            "bundle_href": f"{path}?revision={row['revision']}&format=bundle",
        }
        for row in report["credentials"]
    ]
    return {**report, "credential": issued[0] if issued else None, "credentials": issued}


@router.get(
    "/{buyer_id}/factories/{factory_id}/reports/{assessment_id}/credential",
    response_class=Response,
    responses={
        200: {
            "description": "The credential (`ETag` set; `Content-Disposition` for the bundle).",
            "content": {
                JWT_MEDIA_TYPE: {"schema": {"type": "string"}},
                BUNDLE_MEDIA_TYPE: {"schema": {"type": "object"}},
            },
        },
        304: {"description": "Not modified (If-None-Match), the grant still in force."},
    },
)
async def report_credential(
    buyer_id: PathId,
    factory_id: PathId,
    assessment_id: PathId,
    deps: Deps,
    principal: AdminOrBuyer,
    form: Format = "jwt",
    revision: Revision = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=400)] = None,
) -> Response:
    """A shared report's verifiable credential as issued: `vc+jwt`, or with `format=bundle` the
    offline verification bundle (404 unless the factory shares with the buyer now)."""
    own_buyer(principal, buyer_id)
    today = deps.clock().date()
    async with deps.store.reading() as connection:
        # consent first, on the same connection, before any shortcut (the ETag's included)
        await within_programme(connection, principal, factory_id)
        if not await consent.grant_in_force(connection, factory_id, buyer_id, today):
            raise NotFound(f"factory {factory_id} not found")
        found = await credentials.one(connection, factory_id, assessment_id, revision, form)
    if found is None:
        raise NotFound(f"no credential of assessment {assessment_id}")
    payload = found["document"].encode()
    etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if found["superseded"]:  # RFC 5829: where the report's latest credential is
        latest = _path(buyer_id, factory_id, assessment_id)
        headers["Link"] = f'<{latest}>; rel="successor-version"'
    candidates = {tag.strip() for tag in (if_none_match or "").split(",")}
    if etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    if form == "jwt":
        return Response(payload, media_type=JWT_MEDIA_TYPE, headers=headers)
    name = f"credential-{assessment_id}-{found['revision']}.json"
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(payload, media_type=BUNDLE_MEDIA_TYPE, headers=headers)

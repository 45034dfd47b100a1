"""The reports' verifiable credentials (docs/credentials.md): the issuer's DID document and JWKS
and the status lists (public: a verifier needs no account), and an assessment's credential (the
factory itself and staff of its country programme; buyers get theirs from buyer sharing)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select

from libs.credentials.bundle import BUNDLE_MEDIA_TYPE
from libs.credentials.contexts import load_contexts
from libs.credentials.jose import MEDIA_TYPE as VC_JWT
from libs.credentials.status_list import LIST_SIZE
from libs.servicekit.problems import NotFound
from libs.servicekit.types import PathId
from services.assessment.api.answers import assessment_or_404
from services.assessment.api.common import Deps, Reader, ReadModels
from services.assessment.credentials.issuing import CredentialIssuer
from services.assessment.credentials.status import read_lists
from services.assessment.tables import credential

well_known = APIRouter(prefix="/.well-known", tags=["credentials"])
router = APIRouter(tags=["credentials"])

# a verifier may keep the keys and a status list this long before asking again
KEYS_MAX_AGE = 300
STATUS_MAX_AGE = 60
MAX_LIST = 2**31 - 1 - LIST_SIZE


def _issuer(deps: Deps) -> CredentialIssuer:
    if deps.credentials is None:  # only handler unit tests build dependencies without an issuer
        raise RuntimeError("the assessment service runs without its credential issuer")
    return deps.credentials


def _json(body: Any, media_type: str, max_age: int) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        media_type=media_type,
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )


@well_known.get(
    "/did.json",
    responses={200: {"content": {"application/did+json": {}}}},
    response_class=Response,
)
async def did_document(deps: Deps) -> Response:
    """The programme's did:web DID document: every key that verifies its credentials (the
    signing key first), each a `JsonWebKey` assertion method `<did>#<kid>`. No authentication."""
    return _json(_issuer(deps).did_document(), "application/did+json", KEYS_MAX_AGE)


@well_known.get(
    "/jwks.json",
    responses={200: {"content": {"application/jwk-set+json": {}}}},
    response_class=Response,
)
async def jwks(deps: Deps) -> Response:
    """The same keys as a JSON Web Key Set, for JOSE libraries that read one. No
    authentication."""
    return _json(
        {"keys": [key.public_jwk() for key in _issuer(deps).keys.ring]},
        "application/jwk-set+json",
        KEYS_MAX_AGE,
    )


@router.get(
    "/v1/credentials/status/{list_id}",
    responses={200: {"content": {VC_JWT: {"schema": {"type": "string"}}}}},
    response_class=Response,
)
async def status_list(
    list_id: Annotated[
        str,
        Path(pattern=r"^[1-9][0-9]{0,9}$", max_length=64, description="The status list's number."),
    ],
    deps: Deps,
    reads: ReadModels,
) -> Response:
    """A status list as it is now: a signed `BitstringStatusListCredential` (`vc+jwt`) whose
    bit of a credential is 1 once a correction superseded it. No authentication."""
    issuer = _issuer(deps)
    number = int(list_id)
    lists = {}
    if number <= MAX_LIST:
        async with reads.store.reading() as connection:
            lists = await read_lists(connection, [number])
    if number not in lists:
        raise NotFound(f"status list {list_id} does not exist")
    token = issuer.lists.token(lists[number], issuer.keys.ring, issuer.did, issuer.list_url(number))
    return Response(
        token, media_type=VC_JWT, headers={"Cache-Control": f"public, max-age={STATUS_MAX_AGE}"}
    )


@router.get(
    "/v1/assessments/{assessment_id}/credential",
    responses={
        200: {
            "content": {
                VC_JWT: {"schema": {"type": "string"}},
                BUNDLE_MEDIA_TYPE: {"schema": {"type": "object"}},
            },
            "headers": {
                "Credential-Id": {
                    "description": "The credential's id.",
                    "schema": {"type": "string"},
                }
            },
        }
    },
    response_class=Response,
)
async def assessment_credential(
    assessment_id: PathId,
    reads: ReadModels,
    principal: Reader,
    format: Annotated[
        Literal["vc+jwt", "bundle"],
        Query(description="`vc+jwt` (the credential) or `bundle` (the offline bundle)."),
    ] = "vc+jwt",
) -> Response:
    """The report's current credential (the latest revision): the factory itself and staff of
    its country programme; anyone else, and a report without a credential, get 404."""
    await assessment_or_404(reads, principal, assessment_id)
    async with reads.store.reading() as connection:
        row = (
            await connection.execute(
                select(credential.c.credential_id, credential.c.token, credential.c.bundle)
                .where(credential.c.assessment_id == assessment_id)
                .order_by(credential.c.revision.desc())
                .limit(1)
            )
        ).one_or_none()
    if row is None:
        raise NotFound(f"assessment {assessment_id} has no credential")
    headers = {"Credential-Id": row.credential_id, "Cache-Control": "private, no-cache"}
    if format == "bundle":
        bundle = {**row.bundle, "contexts": load_contexts()}
        headers["Content-Disposition"] = f'attachment; filename="{assessment_id}.credential.json"'
        return Response(
            json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode(),
            media_type=BUNDLE_MEDIA_TYPE,
            headers=headers,
        )
    return Response(row.token, media_type=VC_JWT, headers=headers)

"""The public event of an issued credential, `ReportCredentialIssued`, with the offline bundle it
carries (part of the assessment service's contract, contract.py: translated there, in one place,
by `credential_issued`)."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.credentials.bundle import BUNDLE_FORMAT
from libs.credentials.contexts import load_contexts
from libs.domain.envelope import DomainEvent
from services.assessment.domain import assessment_events as internal


class PublicModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CredentialIssuer(PublicModel):
    """The issuer's DID and its DID document (every key still valid for verification)."""

    id: str = Field(description="The programme's did:web DID.")
    didDocument: dict[str, Any]


class CredentialStatusList(PublicModel):
    credential: str = Field(
        description="The signed BitstringStatusListCredential (compact vc+jwt) as of issuance."
    )


class HistoryPosition(PublicModel):
    """Where the attested event is in the issuing service's hash-chained history."""

    service: str
    stream: str
    version: int = Field(ge=1)
    eventHash: str = Field(description="SHA-256 (hex) of the event in the chain.")
    treeHead: dict[str, Any] | None = Field(
        description="The signed tree head covering it, if one existed at issuance (else null)."
    )


class CredentialBundle(PublicModel):
    """The offline verification bundle (`application/vnd.betterwork.credential-bundle+json`):
    verified with no network by `python3 bw.py verify FILE` (docs/verifying.md)."""

    format: Literal["betterwork-credential-bundle/1"]
    credential: str = Field(description="The credential: a compact JWS (`vc+jwt`, EdDSA).")
    report: dict[str, Any] = Field(
        description="The full report document; its SHA-256 over canonical JSON is the "
        "credential's auditableEvidence hashDigest."
    )
    issuer: CredentialIssuer
    statusList: CredentialStatusList
    contexts: dict[str, Any] = Field(description="The JSON-LD contexts, by URL.")
    history: HistoryPosition


class ReportCredentialIssued(DomainEvent):
    """A report was issued as a verifiable credential (a W3C VC 2.0 following the UNTP Digital
    Conformity Credential 0.6.1, secured as `vc+jwt`): at completion (revision 0) and after each
    correction that changed the report (revision + 1, superseding the one before, whose status
    turns `superseded`). Carries the whole offline bundle (docs/credentials.md)."""

    credential_id: str = Field(description="`urn:uuid:…`, the same for an assessment and revision.")
    assessment_id: str
    factory_id: str
    revision: int = Field(ge=0, description="0 at completion, +1 per correction changing it.")
    supersedes: str | None = Field(description="The credential this one replaces, or null.")
    report_date: date
    issued_at: datetime = Field(description="When it was issued: its `validFrom`.")
    status_list_index: int = Field(ge=0, description="Its bit in its status list.")
    bundle: CredentialBundle


@cache
def _contexts() -> dict[str, Any]:
    return load_contexts()


def credential_issued(event: internal.ReportCredentialIssued) -> ReportCredentialIssued:
    return ReportCredentialIssued(
        credential_id=event.credential_id,
        assessment_id=event.assessment_id,
        factory_id=event.factory_id,
        revision=event.revision,
        supersedes=event.supersedes,
        report_date=event.report_date,
        issued_at=event.issued_at,
        status_list_index=event.status_list_index,
        bundle=CredentialBundle(
            format=BUNDLE_FORMAT,
            credential=event.credential,
            report=event.report,
            issuer=CredentialIssuer(id=event.did_document["id"], didDocument=event.did_document),
            statusList=CredentialStatusList(credential=event.status_list_credential),
            contexts=_contexts(),
            history=HistoryPosition(**event.history),
        ),
    )

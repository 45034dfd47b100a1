"""The assessment service's `ReportCredentialIssued.v1` as its relay publishes it, for buyer
sharing's tests: the data the contract names (docs/verifying.md, the issue 20 contract), with an
offline bundle of the contract's shape whose credential is a compact JWS signed with Ed25519
(cryptography), so what buyer sharing serves can be compared with what was issued, byte for byte."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.domain.envelope import Envelope
from tools.testkit import UpstreamEnvelopes

DID = "did:web:localhost%3A8001"
KID = "key-2026-12"
NAMESPACE = uuid.UUID("6f1d3c1e-4a5b-4c2d-9e8f-0a1b2c3d4e5f")  # the tests' own, not the issuer's
KEY = Ed25519PrivateKey.generate()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def credential_id(assessment_id: str, revision: int) -> str:
    """`urn:uuid:<name_id(NS, "<assessment>:<revision>")>`, as the contract names credentials."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{assessment_id}:{revision}')}"


def sign(claims: dict[str, Any]) -> str:
    header = {"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": f"{DID}#{KID}"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(KEY.sign(signing_input.encode()))}"


def bundle(factory_id: str, assessment_id: str, revision: int, report_date: date) -> dict[str, Any]:
    """An offline bundle of the contract's shape (members in the issuer's order; non-ASCII text
    and a float in the report, which must come back as they went)."""
    this = credential_id(assessment_id, revision)
    supersedes = credential_id(assessment_id, revision - 1) if revision else None
    claims = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://test.uncefact.org/vocabulary/untp/dcc/0.6.0/",
        ],
        "id": this,
        "type": ["VerifiableCredential", "DigitalConformityCredential"],
        "issuer": {"id": DID, "name": "Better Work"},
        "validFrom": f"{report_date.isoformat()}T12:00:00Z",
        "credentialSubject": {"type": ["ConformityAttestation"], "id": f"urn:bw:{assessment_id}"},
        "credentialStatus": {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "message",
            "statusListIndex": str(revision),
            "statusListCredential": "http://localhost:8001/v1/credentials/status/1",
        },
        **({"relatedDocument": [{"id": supersedes, "type": "supersedes"}]} if supersedes else {}),
    }
    return {
        "format": "betterwork-credential-bundle/1",
        "credential": sign(claims),
        "report": {
            "assessment_id": assessment_id,
            "factory_id": factory_id,
            "report_date": report_date.isoformat(),
            "revision": revision,
            "non_compliance_rate": 0.1 + 0.2,
            "smallest_rate": 1e-7,  # Python's json would write 1e-07, the producer 1e-7
            "address": "Phnom Penh, ភ្នំពេញ\u2028\t\u0001",
        },
        "issuer": {"id": DID, "didDocument": {"id": DID, "assertionMethod": [f"{DID}#{KID}"]}},
        "statusList": {"credential": sign({"id": "http://localhost:8001/v1/credentials/status/1"})},
        "contexts": {"https://www.w3.org/ns/credentials/v2": {"@context": {"@protected": True}}},
        "history": {
            "service": "assessment",
            "stream": f"assessment-{assessment_id}",
            "version": 7 + revision,
            "eventHash": "ab" * 32,
            "treeHead": None,
        },
    }


def credential_issued(
    upstream: UpstreamEnvelopes,
    factory_id: str,
    assessment_id: str,
    revision: int = 0,
    report_date: date = date(2025, 3, 1),
) -> Envelope:
    """`ReportCredentialIssued.v1` on the assessment's stream (the next version of it)."""
    issued = bundle(factory_id, assessment_id, revision, report_date)
    return upstream.envelope(
        "assessment",
        "ReportCredentialIssued",
        f"assessment-{assessment_id}",
        factory_id,
        {
            "credential_id": credential_id(assessment_id, revision),
            "assessment_id": assessment_id,
            "factory_id": factory_id,
            "revision": revision,
            "supersedes": credential_id(assessment_id, revision - 1) if revision else None,
            "report_date": report_date.isoformat(),
            "issued_at": datetime(2025, 3, 2, 8, revision, tzinfo=UTC).isoformat(),
            "status_list_index": 40 + revision,
            "bundle": issued,
        },
    )


def served_bytes(envelope: Envelope) -> bytes:
    """The bundle of an issued event as it stands in the message its producer's relay published
    (`Envelope.to_json`): the bytes of the `bundle` member, the data's last."""
    published = envelope.to_json()
    start = published.index(b'"bundle":') + len(b'"bundle":')
    end = published.index(b'},"correlationid":', start)  # where the data object closes
    return published[start:end]

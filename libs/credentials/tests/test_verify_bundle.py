"""`verify_bundle` on bundles this test builds itself (cryptography's Ed25519, no code of the
issuing side): a good bundle passes every check, and each way of altering one fails the check
that names it, and only that one."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.credentials.verify import (
    CHECKS,
    MIN_STATUS_LIST_BITS,
    VC_CONTEXT,
    canonical_json,
    verify_bundle,
)

DID = "did:web:localhost%3A8001"
STATUS_LIST_URL = "http://localhost:8001/v1/credentials/status/1"
DCC_CONTEXT = "https://test.uncefact.org/vocabulary/untp/dcc/0.6.0/"
NOW = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
ISSUED = "2026-03-04T10:00:00Z"
REPORT = {
    "assessment_id": "a-1",
    "factory_id": "f-1",
    "report_date": "2026-03-04",
    "findings": [
        {"question_id": "CBA.1", "result": "non_compliant", "note": "Phnom Penh, 2\u1780"}
    ],
    "workforce": {"women": 800, "men": 200},
}
CONTEXTS = {
    VC_CONTEXT: {
        "@context": {
            "@protected": True,
            "VerifiableCredential": {"@id": "https://www.w3.org/2018/credentials#VC"},
            "BitstringStatusListCredential": {"@id": "https://www.w3.org/ns/credentials/status#B"},
            "BitstringStatusList": {"@id": "https://www.w3.org/ns/credentials/status#L"},
        }
    },
    DCC_CONTEXT: {
        "@context": {
            "DigitalConformityCredential": {"@id": "untp-dcc:DigitalConformityCredential"},
            "ConformityAttestation": {"@id": "untp-dcc:ConformityAttestation"},
        }
    },
}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Issuer:
    """An issuer key: signs compact JWS as the programme does."""

    kid: str = "key-1"
    did: str = DID
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def public_jwk(self) -> dict[str, str]:
        raw = self.key.public_key().public_bytes_raw()
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}

    def sign(self, payload: dict[str, Any], **header: Any) -> str:
        protected = {
            "alg": "EdDSA",
            "typ": "vc+jwt",
            "cty": "vc",
            "kid": f"{self.did}#{self.kid}",
            **header,
        }
        signing_input = (
            f"{b64url(json.dumps(protected).encode())}.{b64url(json.dumps(payload).encode())}"
        )
        return f"{signing_input}.{b64url(self.key.sign(signing_input.encode()))}"


def did_document(*issuers: Issuer, did: str = DID) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": f"{did}#{issuer.kid}",
                "type": "JsonWebKey",
                "controller": did,
                "publicKeyJwk": issuer.public_jwk(),
            }
            for issuer in issuers
        ],
        "assertionMethod": [f"{did}#{issuer.kid}" for issuer in issuers],
    }


def encoded_list(set_bits: Iterable[int] = (), length: int = MIN_STATUS_LIST_BITS) -> str:
    bits = bytearray(length // 8)
    for index in set_bits:
        bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + b64url(gzip.compress(bytes(bits)))


def status_list_payload(
    set_bits: Iterable[int] = (), purpose: str = "message", **subject: Any
) -> dict[str, Any]:
    return {
        "@context": [VC_CONTEXT],
        "id": STATUS_LIST_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": DID,
        "validFrom": ISSUED,
        "credentialSubject": {
            "id": f"{STATUS_LIST_URL}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list(set_bits),
            **subject,
        },
    }


def credential_payload(report: dict[str, Any], index: int = 42) -> dict[str, Any]:
    return {
        "@context": [VC_CONTEXT, DCC_CONTEXT],
        "id": "urn:uuid:6a0e3c4e-5b7d-5b0e-9a55-0a1b2c3d4e5f",
        "type": ["VerifiableCredential", "DigitalConformityCredential"],
        "issuer": {"type": ["CredentialIssuer"], "id": DID, "name": "Better Work"},
        "validFrom": ISSUED,
        "credentialSubject": {
            "type": ["ConformityAttestation"],
            "id": "urn:uuid:a-1",
            "assessorLevel": "3rdParty",
            "attestationType": "inspection",
            "auditableEvidence": {
                "linkURL": "http://localhost:8001/v1/assessments/a-1/report",
                "hashMethod": "SHA-256",
                "hashDigest": hashlib.sha256(canonical_json(report)).hexdigest(),
            },
        },
        "credentialStatus": {
            "id": f"{STATUS_LIST_URL}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "message",
            "statusListIndex": str(index),
            "statusListCredential": STATUS_LIST_URL,
            "statusSize": 1,
            "statusMessage": [
                {"status": "0x0", "message": "valid"},
                {"status": "0x1", "message": "superseded"},
            ],
        },
    }


def build_bundle(
    issuer: Issuer | None = None,
    *,
    credential: dict[str, Any] | None = None,
    status_list: dict[str, Any] | None = None,
    report: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
) -> dict[str, Any]:
    issuer = issuer or Issuer()
    report = copy.deepcopy(REPORT) if report is None else report
    return {
        "format": "betterwork-credential-bundle/1",
        "credential": issuer.sign(credential or credential_payload(report)),
        "report": report,
        "issuer": {"id": DID, "didDocument": document or did_document(issuer)},
        "statusList": {"credential": issuer.sign(status_list or status_list_payload())},
        "contexts": copy.deepcopy(CONTEXTS),
        "history": {
            "service": "assessment",
            "stream": "assessment-a-1",
            "version": 7,
            "eventHash": hashlib.sha256(b"the completing event").hexdigest(),
            "treeHead": None,
        },
    }


def failed(bundle: Any, **options: Any) -> dict[str, str]:
    """The failed checks of a verification at NOW: {name: reason}."""
    verification = verify_bundle(bundle, now=NOW, **options)
    return {check.name: check.reason for check in verification.checks if not check.passed}


def resign(
    bundle: dict[str, Any], issuer: Issuer, change: Callable[[dict[str, Any]], None]
) -> None:
    """Change the credential's payload and sign it again with `issuer`."""
    payload = json.loads(base64.urlsafe_b64decode(bundle["credential"].split(".")[1] + "=="))
    change(payload)
    bundle["credential"] = issuer.sign(payload)


class TestAGoodBundle:
    def test_passes_every_check_by_name(self) -> None:
        verification = verify_bundle(build_bundle(), now=NOW)
        assert verification.ok, verification.failed
        assert [check.name for check in verification.checks] == list(CHECKS)
        assert verification["evidence"].reason.endswith(
            hashlib.sha256(canonical_json(REPORT)).hexdigest()
        )
        assert "index 42" in verification["status"].reason
        assert "valid" in verification["status"].reason
        assert verification.credential["issuer"]["id"] == DID

    def test_survives_a_json_round_trip_of_the_file(self) -> None:
        bundle = json.loads(json.dumps(build_bundle(), indent=2, ensure_ascii=True))
        assert failed(bundle) == {}

    def test_verifies_with_any_key_of_a_rotated_ring(self) -> None:
        old, new = Issuer("key-2025"), Issuer("key-2026")
        bundle = build_bundle(old, document=did_document(new, old))
        assert failed(bundle) == {}

    def test_against_a_trusted_did_document_holding_its_key(self) -> None:
        issuer = Issuer()
        trusted = did_document(Issuer("key-0"), issuer)
        assert failed(build_bundle(issuer), trusted_did_document=trusted) == {}


class TestTheFormat:
    @pytest.mark.parametrize("bundle", [None, [], "bundle", 7])
    def test_fails_what_is_not_a_json_object(self, bundle: Any) -> None:
        failures = failed(bundle)
        assert set(failures) == set(CHECKS)
        assert failures["format"] == "the bundle is not a JSON object"
        assert failures["signature"] == "not checked: the format check failed"

    def test_fails_another_format(self) -> None:
        bundle = build_bundle()
        bundle["format"] = "betterwork-credential-bundle/2"
        assert "expected 'betterwork-credential-bundle/1'" in failed(bundle)["format"]

    @pytest.mark.parametrize(
        "key", ["credential", "report", "issuer", "statusList", "contexts", "history"]
    )
    def test_fails_a_missing_part(self, key: str) -> None:
        bundle = build_bundle()
        del bundle[key]
        assert failed(bundle)["format"].startswith(f"{key} is missing")

    @pytest.mark.parametrize(
        "token",
        ["a.b", "a.b.c.d", "!!.e30.AA", "e30.W10.AA", "bm90IGpzb24.e30.AA", "e30=.e30.AA"],
    )
    def test_fails_a_credential_that_is_no_compact_jws(self, token: str) -> None:
        bundle = build_bundle()
        bundle["credential"] = token
        assert "the credential" in failed(bundle)["format"]


class TestTheIssuerAndHeader:
    def test_a_did_document_of_another_did_fails_the_issuer(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer, document=did_document(issuer, did="did:web:evil.example"))
        bundle["issuer"]["id"] = "did:web:evil.example"
        failures = failed(bundle)
        assert "is not the DID document's did:web:evil.example" in failures["issuer"]
        assert "is not a key of did:web:evil.example" in failures["header"]

    def test_a_key_swapped_in_by_someone_else_fails_against_the_trusted_document(self) -> None:
        programme, forger = Issuer(), Issuer()  # same DID and kid, another key
        failures = failed(build_bundle(forger), trusted_did_document=did_document(programme))
        assert failures == {
            "issuer": f"{DID}#key-1 differs from the trusted DID document's key",
        }

    def test_a_key_the_trusted_document_lacks_fails_the_issuer(self) -> None:
        failures = failed(build_bundle(Issuer("key-9")), trusted_did_document=did_document())
        assert failures == {"issuer": f"{DID}#key-9 is not in the trusted DID document of {DID}"}

    @pytest.mark.parametrize(
        ("header", "reason"),
        [
            ({"alg": "none"}, "alg is 'none', not EdDSA"),
            ({"alg": "HS256"}, "alg is 'HS256', not EdDSA"),
            ({"typ": "JWT"}, "typ is 'JWT', not vc+jwt"),
            ({"kid": "key-1"}, "kid 'key-1' is not a key of"),
            ({"kid": f"{DID}#key-2"}, "is not an assertionMethod of the bundled DID document"),
            ({"crit": ["b64"], "b64": False}, "critical header parameters"),
        ],
    )
    def test_a_header_out_of_profile_fails_it(self, header: dict[str, Any], reason: str) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        bundle["credential"] = issuer.sign(credential_payload(REPORT), **header)
        failures = failed(bundle)
        assert reason in failures["header"]
        assert failures["signature"] == "not checked: the header check failed"

    def test_a_key_listed_only_for_authentication_is_no_assertion_method(self) -> None:
        issuer = Issuer()
        document = did_document(issuer)
        document["authentication"] = document.pop("assertionMethod")
        assert "not an assertionMethod" in failed(build_bundle(issuer, document=document))["header"]

    def test_a_did_document_leaking_a_private_key_is_never_trusted(self) -> None:
        issuer = Issuer()
        document = did_document(issuer)
        document["verificationMethod"][0]["publicKeyJwk"]["d"] = b64url(b"\0" * 32)
        assert "PRIVATE key" in failed(build_bundle(issuer, document=document))["header"]

    def test_a_key_of_another_curve_fails_the_header(self) -> None:
        issuer = Issuer()
        document = did_document(issuer)
        document["verificationMethod"][0]["publicKeyJwk"]["crv"] = "X25519"
        assert "not an Ed25519 JWK" in failed(build_bundle(issuer, document=document))["header"]


class TestTheSignature:
    def test_an_edited_credential_fails_it(self) -> None:
        bundle = build_bundle()
        header, payload, signature = bundle["credential"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["credentialSubject"]["attestationType"] = "self-assessment"
        bundle["credential"] = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
        assert failed(bundle) == {
            "signature": "the credential's signature does not verify: it was altered"
        }

    def test_a_signature_by_another_key_under_the_same_kid_fails_it(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        bundle["credential"] = Issuer().sign(credential_payload(REPORT))
        assert set(failed(bundle)) == {"signature"}


class TestTheDataModel:
    def test_a_context_the_bundle_lacks_fails_contexts(self) -> None:
        bundle = build_bundle()
        del bundle["contexts"][DCC_CONTEXT]
        failures = failed(bundle)
        assert failures["contexts"] == f"the context {DCC_CONTEXT} is not in the bundle"
        assert "DigitalConformityCredential" in failures["types"]

    def test_a_credential_not_starting_with_the_vc_context_fails_contexts(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(bundle, issuer, lambda claims: claims["@context"].reverse())
        assert "starting with https://www.w3.org/ns/credentials/v2" in failed(bundle)["contexts"]

    def test_a_credential_without_the_dcc_type_fails_types(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(bundle, issuer, lambda claims: claims.update(type=["VerifiableCredential"]))
        assert failed(bundle) == {
            "types": "type ['VerifiableCredential'] lacks DigitalConformityCredential"
        }

    def test_a_subject_type_no_bundled_context_defines_fails_types(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(bundle, issuer, lambda c: c["credentialSubject"].update(type=["Attestation"]))
        assert failed(bundle) == {
            "types": "types not defined by the bundled contexts: ['Attestation']"
        }

    def test_a_credential_valid_only_from_tomorrow_fails_validity(self) -> None:
        tomorrow = (NOW + timedelta(days=1)).isoformat()
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(bundle, issuer, lambda claims: claims.update(validFrom=tomorrow))
        assert failed(bundle) == {"validity": f"validFrom {tomorrow} is in the future"}

    def test_an_expired_credential_fails_validity(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(bundle, issuer, lambda claims: claims.update(validUntil="2026-03-05T08:59:59Z"))
        assert failed(bundle) == {"validity": "expired: validUntil 2026-03-05T08:59:59Z"}

    @pytest.mark.parametrize("valid_from", [None, "yesterday", "2026-03-04T10:00:00", 1772618400])
    def test_a_validfrom_that_is_no_dated_instant_fails_validity(self, valid_from: Any) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(bundle, issuer, lambda claims: claims.update(validFrom=valid_from))
        assert set(failed(bundle)) == {"validity"}


class TestTheEvidence:
    def test_an_edited_report_fails_the_evidence(self) -> None:
        bundle = build_bundle()
        bundle["report"]["findings"][0]["result"] = "compliant"
        failures = failed(bundle)
        assert set(failures) == {"evidence"}
        assert "the credential says" in failures["evidence"]

    @pytest.mark.parametrize("edit", ["remove a finding", "add a key"])
    def test_a_finding_removed_or_a_key_added_fails_it(self, edit: str) -> None:
        bundle = build_bundle()
        if edit == "remove a finding":
            bundle["report"]["findings"].pop()
        else:
            bundle["report"]["extra"] = None
        assert set(failed(bundle)) == {"evidence"}

    def test_key_order_and_whitespace_of_the_file_do_not_matter(self) -> None:
        bundle = build_bundle()
        bundle["report"] = dict(reversed(list(bundle["report"].items())))
        assert failed(bundle) == {}

    def test_a_hash_method_other_than_sha256_fails_it(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(
            bundle,
            issuer,
            lambda c: c["credentialSubject"]["auditableEvidence"].update(hashMethod="MD5"),
        )
        assert failed(bundle) == {"evidence": "hashMethod 'MD5' is not SHA-256"}

    def test_a_credential_binding_no_report_fails_it(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        resign(bundle, issuer, lambda c: c["credentialSubject"].pop("auditableEvidence"))
        assert "binds no report" in failed(bundle)["evidence"]

    def test_a_report_with_no_canonical_form_fails_it(self) -> None:
        bundle = build_bundle()
        bundle["report"]["score"] = float("nan")
        assert "no canonical JSON form" in failed(bundle)["evidence"]

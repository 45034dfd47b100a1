"""The UNTP DCC credential of a report, the status list and the offline bundle, without the
service: the credential validates against the UNTP 0.6.1 JSON Schema, its signature verifies with
jwcrypto, and a bundle built from these parts passes every check of the offline verifier."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jwcrypto import jwk, jws

from libs.credentials import jose, status_list
from libs.credentials.bundle import BUNDLE_FORMAT, build_bundle, history_position
from libs.credentials.contexts import load_contexts
from libs.credentials.dcc import (
    DCC_CONTEXT,
    Issuer,
    Superseded,
    conformity_credential,
    credential_id,
    national_labour_law,
    report_hash,
)
from libs.credentials.did import did_document
from libs.credentials.keys import KeyRing, SigningKey
from libs.credentials.verify import verify_bundle

FIXTURES = Path(__file__).parent / "fixtures" / "untp"
SCHEMA = json.loads((FIXTURES / "untp-dcc-schema-0.6.1.json").read_text())
DID = "did:web:localhost%3A8001"
ISSUER = Issuer(did=DID, name="Better Work", base_url="http://localhost:8001")
ISSUED = datetime(2026, 12, 8, 10, 30, 15, 123456, tzinfo=UTC)
LIST_URL = "http://localhost:8001/v1/credentials/status/1"


def report(revision: int = 0, os_id: str | None = "KH2019123ABC4D5") -> dict[str, Any]:
    return {
        "format": "betterwork-assessment-report/1",
        "assessment_id": "a-1",
        "revision": revision,
        "factory": {
            "factory_id": "f-1",
            "name": "Angkor Garments",
            "country": "KH",
            "os_id": os_id,
        },
        "country": "KH",
        "cycle": 2,
        "report_date": "2026-12-01",
        "catalogue": {"version": "2025.1", "effective_from": "2025-01-01"},
        "non_compliance_count": 1,
        "clusters": [
            {
                "cluster_id": "OSH",
                "name": "Occupational Safety and Health",
                "category": "working_conditions",
                "points": [
                    {
                        "compliance_point_id": "OSH-EMP",
                        "name": "Emergency Preparedness",
                        "findings": [
                            {
                                "question_id": "OSH-EMP-01",
                                "question_text": "Are emergency exits unlocked?",
                                "critical": True,
                                "zero_tolerance": False,
                                "result": "non_compliant",
                                "evidence": "Exit 3 locked during shift",
                            }
                        ],
                    }
                ],
            },
            {
                "cluster_id": "CHL",
                "name": "Child Labour",
                "category": "core_labour_standards",
                "points": [
                    {
                        "compliance_point_id": "CHL-CHI",
                        "name": "Child Labourers",
                        "findings": [
                            {
                                "question_id": "CHL-CHI-01",
                                "question_text": "Are there workers under 15?",
                                "critical": True,
                                "zero_tolerance": True,
                                "result": "compliant",
                            },
                            {
                                "question_id": "CHL-CHI-02",
                                "question_text": "Is age verified at hiring?",
                                "critical": False,
                                "zero_tolerance": False,
                                "result": "not_applicable",
                            },
                        ],
                    }
                ],
            },
            {
                "cluster_id": "WT",
                "name": "Working Time",
                "category": "working_conditions",
                "points": [
                    {
                        "compliance_point_id": "WT-REG",
                        "name": "Regular Hours",
                        "findings": [
                            {
                                "question_id": "WT-REG-01",
                                "question_text": "Only not applicable here?",
                                "critical": False,
                                "zero_tolerance": False,
                                "result": "not_applicable",
                            }
                        ],
                    }
                ],
            },
        ],
    }


def credential(revision: int = 0, supersedes: Superseded | None = None) -> dict[str, Any]:
    return conformity_credential(
        report(revision),
        issuer=ISSUER,
        credential_id=credential_id("a-1", revision),
        issued_at=ISSUED,
        status=status_list.status_entry(LIST_URL, 77),
        supersedes=supersedes,
    )


class TestCredential:
    def test_validates_against_the_untp_dcc_schema(self) -> None:
        jsonschema.validate(credential(), SCHEMA, format_checker=jsonschema.FormatChecker())

    def test_the_schema_rejects_what_it_should(self) -> None:
        broken = credential()
        broken["credentialSubject"]["assessorLevel"] = "Friend"
        with pytest.raises(jsonschema.ValidationError, match="Friend"):
            jsonschema.validate(broken, SCHEMA)

    def test_maps_the_report_as_design_says(self) -> None:
        issued = credential()
        subject = issued["credentialSubject"]
        assert issued["type"] == ["VerifiableCredential", "DigitalConformityCredential"]
        assert issued["@context"][1] == DCC_CONTEXT
        assert issued["issuer"]["id"] == DID
        assert issued["validFrom"] == "2026-12-08T10:30:15Z"
        assert subject["assessorLevel"] == "3rdParty"
        assert subject["attestationType"] == "inspection"
        assert subject["issuedToParty"]["registeredId"] == "KH2019123ABC4D5"
        assert subject["scope"]["version"] == "2025.1"
        assert subject["auditableEvidence"]["hashDigest"] == report_hash(report())
        assert subject["auditableEvidence"]["hashMethod"] == "SHA-256"
        # a point whose questions were all not applicable is no assessment
        assessments = {a["name"]: a for a in subject["assessment"]}
        assert sorted(assessments) == [
            "Child Labour: Child Labourers",
            "Occupational Safety and Health: Emergency Preparedness",
        ]
        safety = assessments["Occupational Safety and Health: Emergency Preparedness"]
        assert safety["conformance"] is False
        assert safety["conformityTopic"] == "social.safety"
        assert safety["referenceRegulation"]["jurisdictionCountry"] == "KH"
        assert [c["description"] for c in safety["assessmentCriteria"]] == [
            "Are emergency exits unlocked?"
        ]
        child = assessments["Child Labour: Child Labourers"]
        assert child["conformance"] is True
        assert child["conformityTopic"] == "social.rights"
        assert [c["name"] for c in child["assessmentCriteria"]] == ["CHL-CHI-01"]
        facility = safety["assessedFacility"][0]["facility"]
        assert facility["id"] == "https://opensupplyhub.org/facilities/KH2019123ABC4D5"
        assert issued["credentialStatus"]["statusListIndex"] == "77"

    def test_a_factory_without_os_id_is_named_by_its_url(self) -> None:
        issued = conformity_credential(
            report(os_id=None),
            issuer=ISSUER,
            credential_id=credential_id("a-1", 0),
            issued_at=ISSUED,
            status=status_list.status_entry(LIST_URL, 1),
        )
        assert issued["credentialSubject"]["issuedToParty"] == {
            "id": "http://localhost:8001/v1/factories/f-1",
            "name": "Angkor Garments",
        }
        jsonschema.validate(issued, SCHEMA)

    def test_a_revision_links_the_credential_it_supersedes(self) -> None:
        old = SigningKey.generate("k")
        token = jose.sign(credential(), old, DID)
        newer = credential(1, Superseded(credential_id("a-1", 0), token))
        assert newer["relatedResource"][0]["id"] == credential_id("a-1", 0)
        assert newer["relatedResource"][0]["digestSRI"].startswith("sha384-")
        assert "Supersedes" in newer["description"]
        jsonschema.validate(newer, SCHEMA)
        with pytest.raises(ValueError, match="supersedes"):
            credential(1)

    def test_ids_are_the_same_every_time_and_differ_by_revision(self) -> None:
        assert credential_id("a-1", 0) == credential_id("a-1", 0)
        assert credential_id("a-1", 0) != credential_id("a-1", 1)
        assert credential_id("a-1", 0).startswith("urn:uuid:")

    def test_an_unknown_country_still_names_its_labour_law(self) -> None:
        law = national_labour_law("ZZ")
        assert law["jurisdictionCountry"] == "ZZ" and law["administeredBy"]["name"]


class TestStatusList:
    def test_positions_are_a_permutation_of_the_list(self) -> None:
        indices = {status_list.position(n)[1] for n in range(status_list.LIST_SIZE)}
        assert len(indices) == status_list.LIST_SIZE
        assert status_list.position(status_list.LIST_SIZE) == (2, status_list.position(0)[1])
        assert status_list.position(1)[1] != status_list.position(0)[1] + 1

    def test_bits_round_trip_through_the_encoded_list(self) -> None:
        bits = status_list.with_bit(status_list.empty_list(), 9)
        decoded = status_list.decode_list(status_list.encode_list(bits))
        assert status_list.bit(decoded, 9) == 1 and status_list.bit(decoded, 8) == 0
        assert len(decoded) * 8 == status_list.LIST_SIZE
        assert status_list.encode_list(bits) == status_list.encode_list(bits)
        assert status_list.with_bit(bits, 9, 0) == status_list.empty_list()

    def test_postgres_numbers_the_bits_of_a_byte_from_the_other_end(self) -> None:
        assert status_list.postgres_bit(0) == 7
        assert status_list.postgres_bit(9) == 14

    @pytest.mark.parametrize("index", [-1, status_list.LIST_SIZE])
    def test_an_index_outside_the_list_is_refused(self, index: int) -> None:
        with pytest.raises(IndexError):
            status_list.status_entry(LIST_URL, index)
        with pytest.raises(IndexError):
            status_list.with_bit(status_list.empty_list(), index)


def signed_bundle(key: SigningKey, bits: bytes) -> dict[str, Any]:
    token = jose.sign(credential(), key, DID)
    listed = jose.sign(
        status_list.status_list_credential(LIST_URL, DID, bits, "2026-12-08T10:30:15Z"), key, DID
    )
    return build_bundle(
        credential=token,
        report=report(),
        did_document=did_document(DID, KeyRing.of([key])),
        status_list=listed,
        contexts=load_contexts(),
        history=history_position("assessment", "assessment-a-1", 96, "ab" * 32),
    )


class TestBundle:
    def test_a_bundle_of_these_parts_passes_the_offline_verifier(self) -> None:
        key = SigningKey.generate("k")
        bundle = signed_bundle(key, status_list.empty_list())
        assert bundle["format"] == BUNDLE_FORMAT
        verification = verify_bundle(bundle, now=ISSUED)
        assert verification.ok, verification.failed

    def test_the_credential_verifies_with_jwcrypto(self) -> None:
        key = SigningKey.generate("k")
        bundle = signed_bundle(key, status_list.empty_list())
        token = jws.JWS()
        token.deserialize(bundle["credential"])
        token.verify(jwk.JWK(**key.public_jwk()), alg="EdDSA")
        assert json.loads(token.payload)["id"] == credential_id("a-1", 0)

    def test_a_superseded_bit_fails_the_status_check(self) -> None:
        key = SigningKey.generate("k")
        bundle = signed_bundle(key, status_list.with_bit(status_list.empty_list(), 77))
        verification = verify_bundle(bundle, now=ISSUED)
        assert not verification["status"].passed
        assert "superseded" in verification["status"].reason

    def test_an_edited_report_fails_the_evidence_check(self) -> None:
        bundle = signed_bundle(SigningKey.generate("k"), status_list.empty_list())
        edited = copy.deepcopy(bundle)
        edited["report"]["clusters"][0]["points"][0]["findings"][0]["result"] = "compliant"
        verification = verify_bundle(edited, now=ISSUED)
        assert [check.name for check in verification.failed] == ["evidence"]

    def test_the_contexts_are_the_published_ones(self) -> None:
        contexts = load_contexts()
        assert "BitstringStatusListEntry" in contexts[VC_CONTEXT_URL]["@context"]
        assert "DigitalConformityCredential" in contexts[DCC_CONTEXT]["@context"]


VC_CONTEXT_URL = "https://www.w3.org/ns/credentials/v2"

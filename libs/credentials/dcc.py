"""The UNTP Digital Conformity Credential (UNTP 0.6.1, https://uncefact.github.io/spec-untp/) of
an assessment report: a W3C Verifiable Credential 2.0 whose subject is a `ConformityAttestation`
of the programme (an inspection by a third party) about a factory, one `ConformityAssessment` per
compliance point. Pure: it maps a report document (`REPORT_FORMAT`, built by the assessment
service) and says nothing the report does not.

The report document itself is bound by `auditableEvidence`: the SHA-256 of its canonical JSON
(sorted keys, no spaces, UTF-8), so the credential stays small and every finding stays verifiable."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from libs.domain.identifiers import name_id

UNTP_VERSION = "0.6.1"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
DCC_CONTEXT = f"https://test.uncefact.org/vocabulary/untp/dcc/{UNTP_VERSION}/"
CREDENTIAL_TYPES = ["VerifiableCredential", "DigitalConformityCredential"]
REPORT_FORMAT = "betterwork-assessment-report/1"
# The namespace of credential ids: urn:uuid:<uuid5(NAMESPACE, "<assessment id>:<revision>")>
CREDENTIAL_NAMESPACE = "5b0f6a4e-3c1d-5e7a-9f2b-8d4c6e0a1b3c"
OPEN_SUPPLY_HUB = "https://opensupplyhub.org/facilities/"

# A cluster's UNTP conformity topic: safety for occupational safety and health, rights for the
# ILO core labour standards, labour for the other working conditions.
_TOPIC_BY_CLUSTER = {"OSH": "social.safety"}
_TOPIC_BY_CATEGORY = {
    "core_labour_standards": "social.rights",
    "working_conditions": "social.labour",
}

# The national labour law the programme assesses against, by country (others: named generically).
NATIONAL_LABOUR_LAW: dict[str, tuple[str, str]] = {
    "BD": ("Bangladesh Labour Act, 2006", "Ministry of Labour and Employment"),
    "ET": ("Labour Proclamation No. 1156/2019", "Ministry of Labour and Skills"),
    "HT": ("Code du Travail", "Ministère des Affaires Sociales et du Travail"),
    "ID": ("Law No. 13 of 2003 concerning Manpower", "Ministry of Manpower"),
    "JO": ("Labour Law No. 8 of 1996", "Ministry of Labour"),
    "KH": (
        "Labour Law of the Kingdom of Cambodia, 1997",
        "Ministry of Labour and Vocational Training",
    ),
    "NI": ("Código del Trabajo, Ley No. 185", "Ministerio del Trabajo"),
    "VN": ("Labour Code of Viet Nam, 2019", "Ministry of Labour, Invalids and Social Affairs"),
}


@dataclass(frozen=True)
class Issuer:
    """Who issues: the programme's did:web DID and name, and the public base URL of the issuing
    service (status lists, the report's catalogue and factory links)."""

    did: str
    name: str
    base_url: str


@dataclass(frozen=True)
class Superseded:
    """The credential a new one replaces (a correction changed the report)."""

    credential_id: str
    token: str  # its compact JWS, whose digest the link carries


def credential_id(assessment_id: str, revision: int) -> str:
    """The credential of an assessment's report at `revision` (0 at completion, +1 for each
    correction that changed the report): the same every time it is worked out."""
    return "urn:uuid:" + name_id(CREDENTIAL_NAMESPACE, f"{assessment_id}:{revision}")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the form the report's hash is taken over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def report_hash(report: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(report)).hexdigest()


def rfc3339(moment: datetime) -> str:
    """UTC, whole seconds, `Z` (the form the UNTP schema's date-time pattern takes)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def conformity_credential(
    report: Mapping[str, Any],
    *,
    issuer: Issuer,
    credential_id: str,
    issued_at: datetime,
    status: Mapping[str, Any],
    supersedes: Superseded | None = None,
) -> dict[str, Any]:
    """The unsigned credential of `report` (a `REPORT_FORMAT` document); a revision after the
    first supersedes the one before."""
    if (report["revision"] > 0) != (supersedes is not None):
        raise ValueError("a revision after the first, and only it, supersedes a credential")
    factory = report["factory"]
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT, DCC_CONTEXT],
        "type": list(CREDENTIAL_TYPES),
        "id": credential_id,
        "name": f"{issuer.name} assessment report: {factory['name']}, cycle {report['cycle']}",
        "description": _description(report, supersedes),
        "issuer": {"type": ["CredentialIssuer"], "id": issuer.did, "name": issuer.name},
        # issued now, whatever the report's date (the subject carries that): an imported
        # report of 2005 is attested today
        "validFrom": rfc3339(issued_at),
        "credentialSubject": _attestation(report, issuer, report_hash(report)),
        "credentialStatus": dict(status),
    }
    if supersedes is not None:
        credential["relatedResource"] = [
            {
                "id": supersedes.credential_id,
                "mediaType": "application/vc+jwt",
                "digestSRI": "sha384-" + _b64(hashlib.sha384(supersedes.token.encode()).digest()),
            }
        ]
    return credential


def _description(report: Mapping[str, Any], supersedes: Superseded | None) -> str:
    text = (
        f"Assessment {report['assessment_id']} of factory {report['factory']['factory_id']}, "
        f"report of {report['report_date']}, revision {report['revision']}."
    )
    if supersedes is not None:
        text += f" Supersedes {supersedes.credential_id} (a correction changed the report)."
    return text


def _attestation(report: Mapping[str, Any], issuer: Issuer, digest: str) -> dict[str, Any]:
    factory = report["factory"]
    catalogue = report["catalogue"]
    base = issuer.base_url.rstrip("/")
    facility = _facility(factory, base)
    return {
        "type": ["ConformityAttestation", "Attestation"],
        "id": f"{base}/v1/assessments/{report['assessment_id']}",
        "name": f"Compliance assessment, cycle {report['cycle']}",
        "assessorLevel": "3rdParty",
        # the programme is not accredited by a conformity assessment accreditation body
        "assessmentLevel": "Unspecified",
        "attestationType": "inspection",
        "issuedToParty": {
            "id": facility["id"],
            "name": factory["name"],
            **({"registeredId": factory["os_id"]} if factory.get("os_id") else {}),
        },
        "scope": {
            "type": ["ConformityScheme"],
            "id": _catalogue_url(report, base),
            "name": f"{issuer.name} compliance assessment tool {catalogue['version']}",
            "description": "The programme's compliance catalogue: international core labour "
            "standards and national labour law, by cluster, compliance point and question.",
            "version": catalogue["version"],
            "validFrom": catalogue["effective_from"],
            "owner": {"id": issuer.did, "name": issuer.name},
        },
        "assessment": [
            _assessment(report, cluster, point, facility, _catalogue_url(report, base))
            for cluster in report["clusters"]
            for point in cluster["points"]
            if any(finding["result"] != "not_applicable" for finding in point["findings"])
        ],
        "auditableEvidence": {
            "type": ["SecureLink", "Link"],
            "linkURL": f"{base}/v1/assessments/{report['assessment_id']}/credential?format=bundle",
            "linkName": "The full assessment report (in the offline verification bundle)",
            "linkType": "application/vnd.betterwork.credential-bundle+json",
            "hashDigest": digest,
            "hashMethod": "SHA-256",
            "encryptionMethod": "none",
        },
    }


def _facility(factory: Mapping[str, Any], base: str) -> dict[str, Any]:
    if factory.get("os_id"):
        return {"id": OPEN_SUPPLY_HUB + factory["os_id"], "name": factory["name"]}
    return {"id": f"{base}/v1/factories/{factory['factory_id']}", "name": factory["name"]}


def _assessment(
    report: Mapping[str, Any],
    cluster: Mapping[str, Any],
    point: Mapping[str, Any],
    facility: Mapping[str, Any],
    catalogue_url: str,
) -> dict[str, Any]:
    topic = conformity_topic(cluster)
    findings = [f for f in point["findings"] if f["result"] != "not_applicable"]
    return {
        "type": ["ConformityAssessment", "Declaration"],
        "id": f"{catalogue_url}#{point['compliance_point_id']}",
        "name": f"{cluster['name']}: {point['name']}",
        "assessmentDate": report["report_date"],
        "referenceRegulation": national_labour_law(report["country"]),
        "assessmentCriteria": [
            {
                "type": ["Criterion"],
                "id": f"{catalogue_url}#{finding['question_id']}",
                "name": finding["question_id"],
                "description": finding["question_text"],
                "conformityTopic": topic,
                "status": "active",
            }
            for finding in findings
        ],
        "conformance": all(finding["result"] == "compliant" for finding in findings),
        "conformityTopic": topic,
        "assessedFacility": [
            {"type": ["FacilityVerification"], "facility": dict(facility), "IDverifiedByCAB": True}
        ],
    }


def _catalogue_url(report: Mapping[str, Any], base: str) -> str:
    """The catalogue the assessment pinned, as the service serves it (its version, the
    country's variant)."""
    catalogue = report["catalogue"]
    return (
        f"{base}/v1/compliance-catalogue?version={catalogue['version']}&country={report['country']}"
    )


def conformity_topic(cluster: Mapping[str, Any]) -> str:
    return _TOPIC_BY_CLUSTER.get(cluster["cluster_id"]) or _TOPIC_BY_CATEGORY.get(
        cluster["category"], "social.labour"
    )


def national_labour_law(country: str) -> dict[str, Any]:
    """The `Regulation` of a country's labour law, with its `jurisdictionCountry`."""
    law, authority = NATIONAL_LABOUR_LAW.get(
        country, (f"National labour law ({country})", f"Labour authority ({country})")
    )
    return {
        "type": ["Regulation"],
        "id": f"urn:betterwork:regulation:{country}:labour-law",
        "name": law,
        "jurisdictionCountry": country,
        "administeredBy": {"id": f"urn:betterwork:authority:{country}:labour", "name": authority},
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")

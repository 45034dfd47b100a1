"""The reports' verifiable credentials, end to end in the service (real PostgreSQL and NATS): a
completed report's credential verifies with jwcrypto (independent of our signer and of the offline
verifier) against the served DID document and JWKS, validates against the UNTP DCC 0.6.1 JSON
Schema, and its offline bundle passes every offline check; a correction supersedes it in the
served status list; a key rotation keeps it verifiable; who may read it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from asgi_lifespan import LifespanManager
from jwcrypto import jwk, jws
from sqlalchemy import text

from libs.credentials.bundle import BUNDLE_MEDIA_TYPE, verify_bundle
from libs.credentials.dcc import DCC_CONTEXT, credential_id
from libs.credentials.keys import KeyRing, SigningKey
from libs.servicekit.auth import Role
from services.assessment.service import SERVICE
from services.assessment.settings import AssessmentSettings
from services.assessment.tests.integration.conftest import SECRET, AssessmentService, Headers
from services.assessment.tests.integration.steps import (
    PROBLEM,
    completed_assessment,
    published,
    register,
)

SCHEMA_FILE = (
    Path(__file__).parents[4] / "libs/credentials/tests/fixtures/untp/untp-dcc-schema-0.6.1.json"
)
UNTP_SCHEMA = json.loads(SCHEMA_FILE.read_text())
VC_JWT = "application/vc+jwt"
NON_COMPLIANT = "OSH-EMP-03"  # the non-compliance of steps.completed_assessment


def verified(token: str, keys: dict[str, Any]) -> dict[str, Any]:
    """The payload of `token` once jwcrypto verified it with the JWKS key its header names."""
    signed = jws.JWS()
    signed.deserialize(token)
    kid = signed.jose_header["kid"].split("#", 1)[1]
    signed.verify(jwk.JWKSet.from_json(json.dumps(keys)).get_key(kid), alg="EdDSA")
    payload: dict[str, Any] = json.loads(signed.payload)
    return payload


def header_of(token: str) -> dict[str, Any]:
    signed = jws.JWS()
    signed.deserialize(token)
    header: dict[str, Any] = signed.jose_header
    return header


async def credential_of(
    client: httpx.AsyncClient, auth: Headers, assessment_id: str, **params: str
) -> httpx.Response:
    response = await client.get(
        f"/v1/assessments/{assessment_id}/credential", params=params, headers=auth()
    )
    assert response.status_code == 200, response.text
    return response


async def correct(
    client: httpx.AsyncClient,
    auth: Headers,
    assessment_id: str,
    result: str,
    evidence: str = "",
    question_id: str = NON_COMPLIANT,
) -> httpx.Response:
    response = await client.post(
        f"/v1/assessments/{assessment_id}/findings/{question_id}/corrections",
        json={"result": result, "evidence": evidence, "reason": "second visit"},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return response


async def status_list_token(client: httpx.AsyncClient, credential: dict[str, Any]) -> str:
    url = httpx.URL(credential["credentialStatus"]["statusListCredential"])
    response = await client.get(url.path)  # no authentication: public
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == VC_JWT
    return response.text


class TestIssuedAtCompletion:
    async def test_verifies_with_an_independent_library_against_the_served_keys(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        token = (await credential_of(client, auth, assessment_id)).text
        did = (await client.get("/.well-known/did.json")).json()  # public: no token
        keys = (await client.get("/.well-known/jwks.json")).json()

        payload = verified(token, keys)
        assert header_of(token)["typ"] == "vc+jwt" and header_of(token)["alg"] == "EdDSA"
        assert header_of(token)["kid"] in did["assertionMethod"]
        # the same key, read from the DID document's verification method
        method = next(m for m in did["verificationMethod"] if m["id"] == header_of(token)["kid"])
        signed = jws.JWS()
        signed.deserialize(token)
        signed.verify(jwk.JWK(**method["publicKeyJwk"]), alg="EdDSA")
        assert payload["issuer"]["id"] == did["id"] == "did:web:localhost%3A8001"
        assert payload["id"] == credential_id(assessment_id, 0)
        assert payload["@context"][1] == DCC_CONTEXT

    async def test_validates_against_the_untp_dcc_schema(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        factory_id = await register(client, auth, os_id="KH2019123ABC4DQ")
        assessment_id = await completed_assessment(client, auth, factory_id)
        token = (await credential_of(client, auth, assessment_id)).text
        payload = verified(token, (await client.get("/.well-known/jwks.json")).json())
        jsonschema.validate(payload, UNTP_SCHEMA)
        subject = payload["credentialSubject"]
        assert subject["issuedToParty"]["registeredId"] == "KH2019123ABC4DQ"
        assert subject["assessorLevel"] == "3rdParty"
        assert subject["attestationType"] == "inspection"
        failing = [a for a in subject["assessment"] if not a["conformance"]]
        assert len(failing) == 1 and failing[0]["name"].endswith("Emergency Preparedness")
        assert NON_COMPLIANT in [c["name"] for c in failing[0]["assessmentCriteria"]]
        assert failing[0]["conformityTopic"] == "social.safety"

    async def test_the_bundle_verifies_offline_and_names_the_completing_event(
        self, client: httpx.AsyncClient, auth: Headers, service: AssessmentService
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        response = await credential_of(client, auth, assessment_id, format="bundle")
        assert response.headers["content-type"] == BUNDLE_MEDIA_TYPE
        bundle = response.json()
        did = (await client.get("/.well-known/did.json")).json()
        verification = verify_bundle(bundle, trusted_did_document=did)
        assert verification.ok, verification.failed
        history = bundle["history"]
        async with service.engine.connect() as connection:
            stored = (
                await connection.execute(
                    text(
                        "SELECT event_type, hash FROM assessment.event "
                        "WHERE stream_id = :stream AND version = :version"
                    ),
                    {"stream": history["stream"], "version": history["version"]},
                )
            ).one()
        assert stored.event_type.endswith(".AssessmentCompleted.v1")
        assert stored.hash == history["eventHash"]
        # the report the credential binds is the whole report: every answered question
        findings = [
            finding
            for cluster in bundle["report"]["clusters"]
            for point in cluster["points"]
            for finding in point["findings"]
        ]
        assert {f["question_id"] for f in findings if f["result"] == "non_compliant"} == {
            NON_COMPLIANT
        }

    async def test_the_public_event_carries_a_bundle_that_verifies(
        self, client: httpx.AsyncClient, auth: Headers, nats_url: str, subject_prefix: str
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        envelopes = await published(nats_url, subject_prefix, 5)
        completed = next(e for e in envelopes if e.event_name == "AssessmentCompleted")
        issued = next(e for e in envelopes if e.event_name == "ReportCredentialIssued")
        assert completed.data["credential_id"] == issued.data["credential_id"]
        assert issued.data["assessment_id"] == assessment_id
        assert issued.type == "org.betterwork.assessment.ReportCredentialIssued.v1"
        assert verify_bundle(issued.data["bundle"]).ok


class TestSupersededByACorrection:
    async def test_a_correction_issues_a_new_credential_and_sets_the_old_ones_bit(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        first = await credential_of(client, auth, assessment_id, format="bundle")
        old_bundle = first.json()
        old = verified(
            old_bundle["credential"], (await client.get("/.well-known/jwks.json")).json()
        )

        corrected = await correct(client, auth, assessment_id, "compliant")
        newer = (await credential_of(client, auth, assessment_id, format="bundle")).json()
        keys = (await client.get("/.well-known/jwks.json")).json()
        payload = verified(newer["credential"], keys)
        assert payload["id"] == credential_id(assessment_id, 1) != old["id"]
        assert payload["relatedResource"][0]["id"] == old["id"]
        assert newer["report"]["revision"] == 1 and newer["report"]["non_compliance_count"] == 0
        assert corrected.headers["etag"] == f'"{corrected.json()["version"]}"'
        jsonschema.validate(payload, UNTP_SCHEMA)

        # the served list now says the old one is superseded, the new one valid
        served = await status_list_token(client, old)
        assert status_list_token is not None
        stale = verify_bundle(old_bundle, status_list=served)
        assert not stale["status"].passed and "superseded" in stale["status"].reason
        assert verify_bundle(old_bundle)["status"].passed  # as of its issuance it was valid
        current = verify_bundle(newer, status_list=await status_list_token(client, payload))
        assert current.ok, current.failed
        # the list's own signature verifies with the served keys too
        verified(served, keys)

    async def test_the_correction_event_names_the_new_credential(
        self, client: httpx.AsyncClient, auth: Headers, nats_url: str, subject_prefix: str
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        await correct(client, auth, assessment_id, "compliant")
        envelopes = await published(nats_url, subject_prefix, 7)
        corrected = next(e for e in envelopes if e.event_name == "FindingCorrected")
        issued = [e for e in envelopes if e.event_name == "ReportCredentialIssued"]
        assert [e.data["revision"] for e in issued] == [0, 1]
        assert corrected.data["credential_id"] == issued[1].data["credential_id"]
        assert issued[1].data["supersedes"] == issued[0].data["credential_id"]

    async def test_a_correction_that_leaves_the_report_as_it_was_issues_none(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        before = await credential_of(client, auth, assessment_id)
        # a compliant finding's evidence is not in the report
        compliant = next(q for q in ("CHL-CHI-01", "OSH-EMP-01") if q != NON_COMPLIANT)
        await correct(client, auth, assessment_id, "compliant", "now with a note", compliant)
        after = await credential_of(client, auth, assessment_id)
        assert after.headers["credential-id"] == before.headers["credential-id"]
        assert after.text == before.text


def _settings(base: AssessmentSettings, ring: KeyRing) -> AssessmentSettings:
    return AssessmentSettings(
        DATABASE_URL=base.database_url,
        NATS_URL=base.nats_url,
        BW_SUBJECT_PREFIX=base.subject_prefix,
        BW_JWT_SECRET=SECRET,
        BW_CREDENTIAL_KEYS=ring.to_json(),
    )


@pytest.fixture
async def rotated(settings: AssessmentSettings) -> AsyncIterator[tuple[Any, Any, SigningKey]]:
    """Two runs of the service on one database: with the old key, then with a new key first
    and the old one still published."""
    old, new = SigningKey.generate("2026-01"), SigningKey.generate("2026-12")
    apps = [
        SERVICE.app(_settings(settings, KeyRing.of([old]))),
        SERVICE.app(_settings(settings, KeyRing.of([new, old]))),
    ]
    async with LifespanManager(apps[0]), LifespanManager(apps[1]):
        yield apps[0], apps[1], new


class TestKeyRotation:
    async def test_old_credentials_stay_verifiable_and_new_ones_use_the_new_key(
        self, rotated: tuple[Any, Any, SigningKey], auth: Headers
    ) -> None:
        before_app, after_app, new = rotated
        transport = httpx.ASGITransport(app=before_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as before:
            old_id = await completed_assessment(before, auth, await register(before, auth))
            old_token = (await credential_of(before, auth, old_id)).text
        transport = httpx.ASGITransport(app=after_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as after:
            did = (await after.get("/.well-known/did.json")).json()
            keys = (await after.get("/.well-known/jwks.json")).json()
            assert [k["kid"] for k in keys["keys"]] == ["2026-12", "2026-01"]
            assert verified(old_token, keys)["id"] == credential_id(old_id, 0)
            assert header_of(old_token)["kid"] == f"{did['id']}#2026-01"
            new_id = await completed_assessment(after, auth, await register(after, auth))
            new_bundle = (await credential_of(after, auth, new_id, format="bundle")).json()
            assert header_of(new_bundle["credential"])["kid"] == f"{did['id']}#{new.kid}"
            assert verify_bundle(new_bundle, trusted_did_document=did).ok
            # the old report's bundle, served now, verifies against the rotated DID document
            old_bundle = (await credential_of(after, auth, old_id, format="bundle")).json()
            assert verify_bundle(old_bundle, trusted_did_document=did).ok
            # and the current status list is signed with the new key
            served = await status_list_token(after, verified(old_token, keys))
            assert header_of(served)["kid"].endswith("#2026-12")
            assert verified(served, keys)["type"][1] == "BitstringStatusListCredential"


class TestDevelopmentKey:
    async def test_a_restart_keeps_the_generated_key(self, settings: AssessmentSettings) -> None:
        documents = []
        for _ in range(2):
            app = SERVICE.app(settings)
            async with LifespanManager(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://a") as http:
                    documents.append((await http.get("/.well-known/did.json")).json())
        assert documents[0] == documents[1]
        assert len(documents[0]["verificationMethod"]) == 1


class TestWhoMayReadIt:
    async def test_the_factory_reads_its_own_and_nobody_elses(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        own, other = await register(client, auth), await register(client, auth)
        own_report = await completed_assessment(client, auth, own)
        other_report = await completed_assessment(client, auth, other)
        factory = auth(Role.FACTORY, "fu", factory_id=own)
        url = "/v1/assessments/{}/credential"
        mine = await client.get(url.format(own_report), headers=factory)
        assert mine.status_code == 200 and mine.headers["content-type"] == VC_JWT
        theirs = await client.get(url.format(other_report), headers=factory)
        assert theirs.status_code == 404 and theirs.headers["content-type"] == PROBLEM
        bundle = await client.get(url.format(other_report) + "?format=bundle", headers=factory)
        assert bundle.status_code == 404
        # staff of another country programme: as unknown as another tenant's
        elsewhere = auth(Role.ASSESSOR, "a-bd", countries=["BD"])
        assert (await client.get(url.format(own_report), headers=elsewhere)).status_code == 404
        # a buyer reads credentials from buyer sharing, never here
        buyer = auth(Role.BUYER, "b-1", buyer_id="b-1")
        assert (await client.get(url.format(own_report), headers=buyer)).status_code == 403
        assert (await client.get(url.format(own_report))).status_code == 401

    async def test_a_report_not_completed_has_no_credential(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        from services.assessment.tests.integration.steps import schedule

        scheduled = await schedule(client, auth, await register(client, auth))
        response = await client.get(f"/v1/assessments/{scheduled}/credential", headers=auth())
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM


class TestBadInput:
    @pytest.mark.parametrize(
        ("path", "status"),
        [
            ("/v1/credentials/status/0", 422),
            ("/v1/credentials/status/abc", 422),
            ("/v1/credentials/status/-1", 422),
            ("/v1/credentials/status/99999999999", 422),
            ("/v1/credentials/status/4294967295", 404),
            ("/v1/credentials/status/7", 404),
        ],
    )
    async def test_a_status_list_that_is_not_one_is_a_problem(
        self, client: httpx.AsyncClient, path: str, status: int
    ) -> None:
        response = await client.get(path)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM

    async def test_an_unknown_format_is_a_problem_that_changes_nothing(
        self, client: httpx.AsyncClient, auth: Headers
    ) -> None:
        assessment_id = await completed_assessment(client, auth, await register(client, auth))
        response = await client.get(
            f"/v1/assessments/{assessment_id}/credential?format=xml", headers=auth()
        )
        assert response.status_code == 422 and response.headers["content-type"] == PROBLEM

"""Issue 20 end to end: a completed report's verifiable credential, from the assessment service
through buyer sharing to a buyer that verifies it offline (the assessment and buyer sharing apps in
this process, one database with their own schemas, one subject prefix, real NATS).

- the buyer with a grant gets the bundle; `verify_bundle` passes, and so does `python3 bw.py verify`
  with every Python process it starts unable to open a socket; an edited report, credential or status bit fails the
  check that names it;
- the credential verifies with an independent JOSE library (jwcrypto) against the DID document
  the assessment service serves at its `did:web` location;
- a correction issues a new credential that supersedes the first: the status list the assessment
  service serves now marks the first one superseded, the new one is valid and links to it;
- a buyer without a grant gets 404; after a revocation the buyer gets 404 too, and the bundle it
  kept still verifies.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from jwcrypto import jwk, jws

from libs.credentials.verify import verify_bundle
from libs.servicekit.auth import Role, mint_token
from libs.servicekit.migrations import run_migrations
from services.assessment.compliance_catalogue import load_library
from services.assessment.service import SERVICE as ASSESSMENT
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA as ASSESSMENT_SCHEMA
from services.buyer_sharing.service import SERVICE as BUYER_SHARING
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA as SHARING_SCHEMA
from tools.devstack.config import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SECRET = "verifiable-reports-tests-secret-of-32-bytes-or-more"
BUNDLE_MEDIA_TYPE = "application/vnd.betterwork.credential-bundle+json"
_CATALOGUE = load_library().resolve("2025.1", "KH")
assert _CATALOGUE is not None
CRITICAL_QUESTIONS = sorted(_CATALOGUE.critical_question_ids)
STAFF = {"Authorization": "Bearer " + mint_token(SECRET, "assessor-1", Role.ASSESSOR)}
ADMIN = {"Authorization": "Bearer " + mint_token(SECRET, "admin-1", Role.ADMIN)}


def buyer(buyer_id: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SECRET, f"{buyer_id}-user", Role.BUYER,
                                                    buyer_id=buyer_id)}  # fmt: skip


def factory_user(factory_id: str) -> dict[str, str]:
    token = mint_token(SECRET, "factory-user", Role.FACTORY, factory_id=factory_id)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class System:
    assessment: httpx.AsyncClient
    sharing: httpx.AsyncClient


@pytest.fixture
async def system(database_url: str, nats_url: str, subject_prefix: str) -> AsyncIterator[System]:
    for migrations, schema in (
        (ASSESSMENT.migrations, ASSESSMENT_SCHEMA),
        (BUYER_SHARING.migrations, SHARING_SCHEMA),
    ):
        await asyncio.to_thread(run_migrations, database_url, migrations, schema)
    common: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BW_SUBJECT_PREFIX": subject_prefix,
        "BW_JWT_SECRET": SECRET,
    }
    apps = (
        (ASSESSMENT.app(AssessmentSettings(**common)), "http://localhost:8001"),
        (BUYER_SHARING.app(BuyerSharingSettings(**common)), "http://localhost:8003"),
    )
    async with AsyncExitStack() as stack:
        clients = []
        for app, base_url in apps:
            await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url=base_url)
                )
            )
        yield System(*clients)


async def eventually(check: Any, what: str, timeout: float = 30.0) -> Any:
    last: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await check()
                if last:
                    return last
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})") from None


def path_of(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Shared:
    factory_id: str
    assessment_id: str
    buyer_id: str


async def completed_and_shared(system: System, buyer_id: str = "brand-a") -> Shared:
    """A factory shares with a buyer; an assessment with two non-compliances is completed."""
    factory = await system.assessment.post(
        "/v1/factories",
        json={"name": "Mekong Garments", "country": "KH", "address": "Street 2004, Phnom Penh",
              "sector_isic": "1410", "workforce": {"women": 800, "men": 200}},
        headers=STAFF,
    )  # fmt: skip
    assert factory.status_code == 201, factory.text
    factory_id = factory.json()["factory_id"]
    registered = await system.sharing.post(
        "/v1/buyers",
        json={"buyer_id": buyer_id, "name": "Brand A", "country": "US",
              "contact_name": "Sourcing", "contact_email": f"sourcing@{buyer_id}.example"},
        headers=ADMIN,
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    granted = await system.sharing.post(
        "/v1/sharing-grants", json={"buyer_id": buyer_id}, headers=factory_user(factory_id)
    )
    assert granted.status_code == 201, granted.text
    scheduled = await system.assessment.post(
        "/v1/assessments",
        json={"factory_id": factory_id, "scheduled_for": "2025-03-03", "assessors": ["a1"]},
        headers=STAFF,
    )
    assert scheduled.status_code == 201, scheduled.text
    assessment_id = scheduled.json()["assessment_id"]
    findings = [
        {"question_id": question_id, "result": "non_compliant", "evidence": "seen on site"}
        if index < 2
        else {"question_id": question_id, "result": "compliant"}
        for index, question_id in enumerate(CRITICAL_QUESTIONS)
    ]
    recorded = await system.assessment.post(
        f"/v1/assessments/{assessment_id}/findings", json={"findings": findings}, headers=STAFF
    )
    assert recorded.status_code == 200, recorded.text
    completed = await system.assessment.post(
        f"/v1/assessments/{assessment_id}/complete", headers=STAFF
    )
    assert completed.status_code == 200, completed.text
    return Shared(factory_id, assessment_id, buyer_id)


async def report_credential(system: System, shared: Shared, ready: Any = bool) -> dict[str, Any]:
    """The portfolio report's `credential` link, once `ready(link)`."""

    async def link() -> dict[str, Any] | None:
        response = await system.sharing.get(
            f"/v1/buyers/{shared.buyer_id}/factories/{shared.factory_id}/reports",
            headers=buyer(shared.buyer_id),
        )
        if response.status_code != 200:
            return None
        for report in response.json():
            credential = report.get("credential")
            if report["assessment_id"] == shared.assessment_id and credential and ready(credential):
                return dict(credential)
        return None

    found: dict[str, Any] = await eventually(link, "the report's credential")
    return found


async def bundle_of(system: System, shared: Shared, link: dict[str, Any]) -> dict[str, Any]:
    response = await system.sharing.get(
        path_of(link["bundle_href"]), headers=buyer(shared.buyer_id)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(BUNDLE_MEDIA_TYPE)
    bundle: dict[str, Any] = response.json()
    return bundle


# Loaded by every Python process that has the folder on its PYTHONPATH (`site` imports
# sitecustomize): `bw.py` and the interpreter it execs alike.
NO_NETWORK_SITE = """
import socket

def _blocked(*args, **kwargs):
    raise OSError("network blocked by the test")

class _BlockedSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        _blocked()

socket.socket = _BlockedSocket
socket.create_connection = socket.getaddrinfo = socket.socketpair = _blocked
"""


def bw_verify_offline(directory: Path, name: str) -> subprocess.CompletedProcess[str]:
    """`python3 bw.py verify NAME` from `directory`, with no Python process able to open a
    socket (checked first)."""
    guard = directory / "no-network"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(NO_NETWORK_SITE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(guard)}
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 4222))"],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "network blocked by the test" in probe.stderr
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bw.py"), "verify", name],
        cwd=directory, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def payload_of(compact: str) -> dict[str, Any]:
    part = compact.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestACompletedReportsCredential:
    async def test_the_buyer_verifies_it_offline_and_tampering_fails_the_right_check(
        self, system: System, tmp_path: Path
    ) -> None:
        shared = await completed_and_shared(system)
        link = await report_credential(system, shared)
        assert link["superseded"] is False
        bundle = await bundle_of(system, shared, link)

        verification = verify_bundle(bundle)
        assert verification.ok, verification.failed
        assert payload_of(bundle["credential"])["id"] == link["id"]
        assert bundle["report"]["assessment_id"] == shared.assessment_id
        assert bundle["history"]["service"] == "assessment"

        as_jwt = await system.sharing.get(path_of(link["href"]), headers=buyer(shared.buyer_id))
        assert as_jwt.status_code == 200
        assert as_jwt.headers["content-type"].startswith("application/vc+jwt")
        assert as_jwt.text == bundle["credential"]

        # python3 bw.py verify, every Python process it starts unable to open a socket
        (tmp_path / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
        offline = bw_verify_offline(tmp_path, "bundle.json")
        assert offline.returncode == 0, offline.stdout + offline.stderr
        assert "VERIFIED: all 11 checks passed, offline" in offline.stdout

        # an edited report fails the evidence, and only it
        edited = copy.deepcopy(bundle)
        edited["report"]["assessment_id"] = "another"
        assert [check.name for check in verify_bundle(edited).failed] == ["evidence"]
        (tmp_path / "edited.json").write_text(json.dumps(edited), encoding="utf-8")
        refused = bw_verify_offline(tmp_path, "edited.json")
        assert refused.returncode == 1
        assert "FAIL  evidence" in refused.stdout

        # an edited credential (its claims changed, the signature kept) fails the signature
        header, _payload, signature = bundle["credential"].split(".")
        claims = payload_of(bundle["credential"])
        claims["credentialSubject"]["assessorLevel"] = "selfAssessed"
        forged = copy.deepcopy(bundle)
        forged["credential"] = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
        assert [check.name for check in verify_bundle(forged).failed] == ["signature"]

        # a status bit set in the bundled list (its signature kept) fails the status list
        header, _payload, signature = bundle["statusList"]["credential"].split(".")
        status_list = payload_of(bundle["statusList"]["credential"])
        index = int(payload_of(bundle["credential"])["credentialStatus"]["statusListIndex"])
        encoded = status_list["credentialSubject"]["encodedList"]
        bits = bytearray(gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "==")))
        bits[index // 8] |= 0x80 >> (index % 8)
        status_list["credentialSubject"]["encodedList"] = "u" + b64url(gzip.compress(bytes(bits)))
        flipped = copy.deepcopy(bundle)
        flipped["statusList"]["credential"] = (
            f"{header}.{b64url(json.dumps(status_list).encode())}.{signature}"
        )
        failed = verify_bundle(flipped)
        assert [check.name for check in failed.failed] == ["status-list", "status"]
        assert "signature does not verify" in failed["status-list"].reason

    async def test_it_verifies_with_jwcrypto_against_the_served_did_document(
        self, system: System
    ) -> None:
        shared = await completed_and_shared(system)
        link = await report_credential(system, shared)
        compact = (
            await system.sharing.get(path_of(link["href"]), headers=buyer(shared.buyer_id))
        ).text
        did_document = (await system.assessment.get("/.well-known/did.json")).json()
        token = jws.JWS()
        token.deserialize(compact)
        header = token.jose_header
        assert (header["alg"], header["typ"]) == ("EdDSA", "vc+jwt")
        (method,) = [m for m in did_document["verificationMethod"] if m["id"] == header["kid"]]
        assert header["kid"] in did_document["assertionMethod"]
        token.verify(jwk.JWK(**method["publicKeyJwk"]), alg="EdDSA")
        claims = json.loads(token.payload)
        assert claims["issuer"] in (
            did_document["id"],
            {**claims["issuer"], "id": did_document["id"]},
        )
        jwks = (await system.assessment.get("/.well-known/jwks.json")).json()
        kid = header["kid"].split("#", 1)[1]
        assert any(key.get("kid") in (kid, header["kid"]) for key in jwks["keys"])
        # the same key in the bundle's DID document as served
        bundle = await bundle_of(system, shared, link)
        assert bundle["issuer"]["didDocument"]["id"] == did_document["id"]

    async def test_the_factory_and_staff_read_it_on_the_assessment_service(
        self, system: System
    ) -> None:
        shared = await completed_and_shared(system)
        link = await report_credential(system, shared)
        path = f"/v1/assessments/{shared.assessment_id}/credential"
        for who in (STAFF, factory_user(shared.factory_id)):
            answer = await system.assessment.get(path, headers=who)
            assert answer.status_code == 200, answer.text
            assert payload_of(answer.text)["id"] == link["id"]
            bundle = await system.assessment.get(f"{path}?format=bundle", headers=who)
            assert verify_bundle(bundle.json()).ok
        other_factory = await system.assessment.get(path, headers=factory_user("f-other"))
        assert other_factory.status_code == 404


class TestWhoGetsIt:
    async def test_a_buyer_without_a_grant_gets_404_and_a_revoked_one_keeps_what_it_holds(
        self, system: System
    ) -> None:
        shared = await completed_and_shared(system)
        link = await report_credential(system, shared)
        bundle = await bundle_of(system, shared, link)
        registered = await system.sharing.post(
            "/v1/buyers",
            json={"buyer_id": "brand-b", "name": "Brand B", "country": "US",
                  "contact_name": "Sourcing", "contact_email": "sourcing@brand-b.example"},
            headers=ADMIN,
        )  # fmt: skip
        assert registered.status_code == 201
        # brand-b's own path to the report's credential, and brand-a's links
        own_path = path_of(link["bundle_href"]).replace(
            "/v1/buyers/brand-a/", "/v1/buyers/brand-b/"
        )
        for path in (own_path, path_of(link["href"]), path_of(link["bundle_href"])):
            stranger = await system.sharing.get(path, headers=buyer("brand-b"))
            assert stranger.status_code == 404, path
            assert stranger.headers["content-type"] == "application/problem+json"

        revoked = await system.sharing.post(
            f"/v1/sharing-grants/{shared.factory_id}/{shared.buyer_id}/revoke",
            json={"reason": "end of season"},
            headers=factory_user(shared.factory_id),
        )
        assert revoked.status_code == 200, revoked.text
        gone = await system.sharing.get(path_of(link["bundle_href"]), headers=buyer("brand-a"))
        assert gone.status_code == 404
        assert verify_bundle(bundle).ok  # a revoked grant revokes no credential already held


class TestACorrection:
    async def test_supersedes_the_credential_in_the_status_list(self, system: System) -> None:
        shared = await completed_and_shared(system)
        first_link = await report_credential(system, shared)
        first = await bundle_of(system, shared, first_link)
        corrected = await system.assessment.post(
            f"/v1/assessments/{shared.assessment_id}/findings/{CRITICAL_QUESTIONS[0]}/corrections",
            json={"result": "compliant", "reason": "the guard was fitted; wrongly recorded"},
            headers=STAFF,
        )
        assert corrected.status_code == 201, corrected.text

        second_link = await report_credential(
            system, shared, ready=lambda link: link["id"] != first_link["id"]
        )
        second = await bundle_of(system, shared, second_link)
        assert verify_bundle(second).ok
        assert second_link["superseded"] is False
        claims = payload_of(second["credential"])
        assert first_link["id"] in json.dumps(claims)  # the new credential links to the first

        # the status list served now marks the first credential superseded
        entry = payload_of(first["credential"])["credentialStatus"]
        current = await system.assessment.get(path_of(entry["statusListCredential"]))
        assert current.status_code == 200
        assert current.headers["content-type"].startswith("application/vc+jwt")
        now = verify_bundle(first, status_list=current.text)
        assert [check.name for check in now.failed] == ["status"]
        assert now["status"].reason.endswith("superseded")
        assert verify_bundle(first).ok  # as of its issuance, it was the report
        assert verify_bundle(second, status_list=current.text).ok

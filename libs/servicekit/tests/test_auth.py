"""Token verification (HS256 and RS256 via a JWKS served locally), the auth dependencies and the
token CLI."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI

from libs.servicekit import (
    CurrentPrincipal,
    Principal,
    Role,
    ServiceSettings,
    TokenVerifier,
    Unauthorized,
    create_app,
    mint_token,
    require_roles,
)
from libs.servicekit.settings import DEV_JWT_SECRET
from libs.servicekit.tokens import main as token_cli

SECRET = "test-secret-of-sufficient-length-32b"


def hs_verifier() -> TokenVerifier:
    return TokenVerifier(secret=SECRET)


async def test_valid_token_gives_its_principal() -> None:
    token = mint_token(SECRET, "alice", Role.FACTORY, factory_id="F1")
    principal = await hs_verifier().verify(token)
    assert principal == Principal(subject="alice", role=Role.FACTORY, factory_id="F1")


async def test_buyer_token_keeps_only_buyer_tenant() -> None:
    token = jwt.encode(
        {
            "sub": "b",
            "role": "buyer",
            "buyer_id": "B9",
            "factory_id": "F1",
            "exp": time.time() + 60,
        },
        SECRET,
        algorithm="HS256",
    )
    principal = await hs_verifier().verify(token)
    assert (principal.buyer_id, principal.factory_id) == ("B9", None)


async def test_expired_token_is_refused() -> None:
    token = mint_token(SECRET, "alice", Role.ADMIN, ttl_seconds=-120)
    with pytest.raises(Unauthorized, match="expired"):
        await hs_verifier().verify(token)


async def test_wrong_secret_is_refused() -> None:
    token = mint_token("another-secret-of-sufficient-len-32", "alice", Role.ADMIN)
    with pytest.raises(Unauthorized):
        await hs_verifier().verify(token)


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "admin"},  # no sub
        {"sub": "alice"},  # no role
        {"sub": "alice", "role": "superuser"},  # unknown role
        {"sub": "alice", "role": "factory"},  # factory without factory_id
        {"sub": "alice", "role": "buyer"},  # buyer without buyer_id
    ],
)
async def test_missing_or_invalid_claims_are_refused(claims: dict[str, Any]) -> None:
    token = jwt.encode({**claims, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        await hs_verifier().verify(token)


async def test_token_without_exp_is_refused() -> None:
    token = jwt.encode({"sub": "alice", "role": "admin"}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        await hs_verifier().verify(token)


async def test_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "a", "role": "admin", "exp": time.time() + 60}, "", algorithm="none")
    with pytest.raises(Unauthorized):
        await hs_verifier().verify(token)


async def test_audience_and_issuer_are_checked() -> None:
    verifier = TokenVerifier(secret=SECRET, audience="betterwork", issuer="https://idp.test")
    good = mint_token(SECRET, "a", "admin", audience="betterwork", issuer="https://idp.test")
    principal = await verifier.verify(good)
    assert (principal.subject, principal.issuer) == ("a", "https://idp.test")
    wrong_audience = mint_token(SECRET, "a", "admin", audience="other", issuer="https://idp.test")
    with pytest.raises(Unauthorized):
        await verifier.verify(wrong_audience)


class _JwksHandler(BaseHTTPRequestHandler):
    jwks: bytes = b""
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.jwks)))
        self.end_headers()
        self.wfile.write(self.jwks)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    public_jwk.update(kid="key-1", use="sig", alg="RS256")
    _JwksHandler.jwks = json.dumps({"keys": [public_jwk]}).encode()
    _JwksHandler.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def rs_token(key: rsa.RSAPrivateKey, kid: str = "key-1", **claims: Any) -> str:
    payload = {"sub": "idp-user", "role": "assessor", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


async def test_rs256_via_jwks(jwks_url: str, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = TokenVerifier(jwks_url=jwks_url)
    principal = await verifier.verify(rs_token(rsa_key))
    assert principal == Principal(subject="idp-user", role=Role.ASSESSOR)
    await verifier.verify(rs_token(rsa_key, sub="second"))
    assert _JwksHandler.hits == 1  # keys come from the client's cache the second time


async def test_rs256_refuses_unknown_key_and_hs256_tokens(
    jwks_url: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(jwks_url=jwks_url)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthorized):
        await verifier.verify(rs_token(other_key))  # right kid, wrong key
    with pytest.raises(Unauthorized):
        await verifier.verify(rs_token(rsa_key, kid="unknown"))
    with pytest.raises(Unauthorized):
        await verifier.verify(mint_token(SECRET, "a", "admin"))


def test_settings_choose_jwks_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BW_JWT_JWKS_URL", "http://127.0.0.1:1/jwks.json")
    verifier = TokenVerifier.from_settings(ServiceSettings(service_name="t"))
    assert verifier._jwks_client is not None


router = APIRouter()


@router.get("/me")
async def me(principal: CurrentPrincipal) -> dict[str, str | None]:
    return {"sub": principal.subject, "role": principal.role, "factory_id": principal.factory_id}


@router.post("/admin-only")
async def admin_only(
    principal: Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ASSESSOR))],
) -> dict[str, str]:
    return {"sub": principal.subject}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(
        settings=ServiceSettings(service_name="auth-test", jwt_secret=SECRET),
        title="t",
        description="t",
        version="1",
        routers=[router],
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_dependency_gives_principal(client: httpx.AsyncClient) -> None:
    token = mint_token(SECRET, "alice", "factory", factory_id="F1")
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"sub": "alice", "role": "factory", "factory_id": "F1"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer not-a-jwt",
        "Bearer " + mint_token(SECRET, "x", "factory"),
    ],
)
async def test_dependency_401_problem(client: httpx.AsyncClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


async def test_require_roles_403_problem(client: httpx.AsyncClient) -> None:
    buyer = mint_token(SECRET, "bob", "buyer", buyer_id="B1")
    response = await client.post("/admin-only", headers={"Authorization": f"Bearer {buyer}"})
    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")
    assessor = mint_token(SECRET, "ann", "assessor")
    response = await client.post("/admin-only", headers={"Authorization": f"Bearer {assessor}"})
    assert response.json() == {"sub": "ann"}


async def test_token_cli_prints_a_verifiable_dev_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BW_JWT_SECRET", raising=False)
    assert token_cli(["--role", "factory", "--factory-id", "F1", "--sub", "alice"]) == 0
    token = capsys.readouterr().out.strip()
    principal = await TokenVerifier(secret=DEV_JWT_SECRET).verify(token)
    assert principal == Principal(subject="alice", role=Role.FACTORY, factory_id="F1")


def test_token_cli_requires_factory_id() -> None:
    with pytest.raises(SystemExit) as exit_info:
        token_cli(["--role", "factory"])
    assert exit_info.value.code == 2

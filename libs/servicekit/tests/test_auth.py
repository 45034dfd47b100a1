"""Token verification (HS256 and RS256 via a JWKS served locally), the auth dependencies and the
token CLI."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI

from libs.servicekit.app import create_app
from libs.servicekit.auth import (
    CurrentPrincipal,
    Principal,
    Role,
    TokenVerifier,
    mint_token,
    require_roles,
)
from libs.servicekit.problems import ServiceUnavailable, Unauthorized
from libs.servicekit.settings import DEV_JWT_SECRET, ServiceSettings
from libs.servicekit.tokens import main as token_cli
from tools.embedded import free_port

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
    good = mint_token(
        SECRET, "a", "admin", audience="betterwork", issuer="https://idp.test", countries="*"
    )
    principal = await verifier.verify(good)
    assert (principal.subject, principal.issuer) == ("a", "https://idp.test")
    wrong_audience = mint_token(SECRET, "a", "admin", audience="other", issuer="https://idp.test")
    with pytest.raises(Unauthorized):
        await verifier.verify(wrong_audience)


class JwksServer:
    """A real JWKS endpoint on 127.0.0.1 (a thread of the standard library's HTTP server) whose
    keys the test can rotate and which it can take down and bring back on the same port."""

    def __init__(self) -> None:
        self.document = b'{"keys": []}'
        self.hits = 0
        self.delay = 0.0  # seconds each answer takes: a slow identity provider
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    def publish(self, *keys: tuple[str, rsa.RSAPrivateKey]) -> None:
        jwks = []
        for kid, key in keys:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwks.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        # an encryption key and a key of another type are published too, and must be skipped
        jwks.append({"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"})
        self.document = json.dumps({"keys": jwks}).encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                time.sleep(owner.delay)  # a thread of the test server, not the event loop
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.document)))
                self.end_headers()
                self.wfile.write(owner.document)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rotated_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(("key-1", rsa_key))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def jwks_url(jwks_server: JwksServer) -> str:
    return jwks_server.url


def jwks_verifier(url: str, **options: Any) -> TokenVerifier:
    # plain http to the local test server: allowed explicitly, as only development allows it
    return TokenVerifier(jwks_url=url, allow_insecure_http=True, **options)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def rs_token(key: rsa.RSAPrivateKey, kid: str | None = "key-1", **claims: Any) -> str:
    payload = {
        "sub": "idp-user",
        "role": "assessor",
        "countries": ["KH"],
        "exp": int(time.time()) + 60,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid} if kid else None)


async def test_rs256_via_jwks(jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = jwks_verifier(jwks_server.url)
    try:
        principal = await verifier.verify(rs_token(rsa_key, iss="https://idp.test"))
        assert principal == Principal(
            subject="idp-user",
            role=Role.ASSESSOR,
            issuer="https://idp.test",
            countries=frozenset({"KH"}),
        )
        await verifier.verify(rs_token(rsa_key, sub="second"))
        await verifier.verify(rs_token(rsa_key, kid=None))  # one RS256 key: no kid is unambiguous
        assert jwks_server.hits == 1  # keys come from the cache after the first fetch
    finally:
        await verifier.stop()


async def test_rs256_refuses_unknown_key_and_hs256_tokens(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, rotated_key: rsa.RSAPrivateKey
) -> None:
    verifier = jwks_verifier(jwks_server.url)
    try:
        with pytest.raises(Unauthorized):
            await verifier.verify(rs_token(rotated_key))  # right kid, wrong key
        with pytest.raises(Unauthorized):
            await verifier.verify(mint_token(SECRET, "a", "admin"))
        with pytest.raises(Unauthorized):
            await verifier.verify(rs_token(rsa_key, kid="symmetric"))  # not an RS256 key
        with pytest.raises(Unauthorized, match="not a JWT"):
            await verifier.verify("not-a-jwt")
    finally:
        await verifier.stop()


async def test_unknown_kids_refetch_at_most_once_per_interval(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = jwks_verifier(jwks_server.url, jwks_min_refetch_seconds=60)
    try:
        await verifier.start()
        assert jwks_server.hits == 1
        for forged in ("forged-1", "forged-2", "forged-3"):
            with pytest.raises(Unauthorized, match="signing key is unknown"):
                await verifier.verify(rs_token(rsa_key, kid=forged))
        # the start's fetch was just now: forged kids do not reach the identity provider
        assert jwks_server.hits == 1
    finally:
        await verifier.stop()


async def test_a_rotated_key_is_picked_up_on_its_first_token(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, rotated_key: rsa.RSAPrivateKey
) -> None:
    verifier = jwks_verifier(jwks_server.url, jwks_min_refetch_seconds=0.2)
    try:
        await verifier.verify(rs_token(rsa_key))
        jwks_server.publish(("key-1", rsa_key), ("key-2", rotated_key))
        await asyncio.sleep(0.25)  # past the refetch rate limit
        principal = await verifier.verify(rs_token(rotated_key, kid="key-2"))
        assert principal.subject == "idp-user"
        assert jwks_server.hits == 2
    finally:
        await verifier.stop()


async def test_the_background_refresh_follows_rotation_and_removal(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, rotated_key: rsa.RSAPrivateKey
) -> None:
    verifier = jwks_verifier(jwks_server.url, jwks_refresh_seconds=0.1, jwks_min_refetch_seconds=60)
    try:
        await verifier.start()
        await verifier.verify(rs_token(rsa_key))
        jwks_server.publish(("key-2", rotated_key))  # key-1 retired
        await wait_until(lambda: jwks_server.hits >= 3)  # refreshed after the change
        # no request-triggered fetch is allowed (60 s limit): the refresher alone got key-2
        assert (await verifier.verify(rs_token(rotated_key, kid="key-2"))).subject == "idp-user"
        with pytest.raises(Unauthorized):
            await verifier.verify(rs_token(rsa_key))
    finally:
        await verifier.stop()


async def test_last_good_keys_keep_working_while_the_provider_is_down(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, rotated_key: rsa.RSAPrivateKey
) -> None:
    verifier = jwks_verifier(
        jwks_server.url, jwks_refresh_seconds=0.1, jwks_min_refetch_seconds=0.1
    )
    try:
        await verifier.start()
        jwks_server.stop()
        assert verifier.jwks is not None
        attempts = verifier.jwks.fetches
        await wait_until(
            lambda: verifier.jwks is not None and verifier.jwks.fetches >= attempts + 2
        )
        assert (await verifier.verify(rs_token(rsa_key))).subject == "idp-user"
        with pytest.raises(Unauthorized):  # unknown, not "unavailable": we do have keys
            await verifier.verify(rs_token(rotated_key, kid="key-2"))
        # back, rotated: picked up by the refresher
        jwks_server.publish(("key-2", rotated_key))
        jwks_server.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                await verifier.verify(rs_token(rotated_key, kid="key-2"))
                break
            except Unauthorized:
                assert time.monotonic() < deadline, "the rotated key was never picked up"
                await asyncio.sleep(0.05)
    finally:
        await verifier.stop()


async def test_no_keys_ever_fetched_is_503_and_rate_limited() -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/jwks.json"
    verifier = jwks_verifier(unreachable, jwks_min_refetch_seconds=60)
    try:
        with pytest.raises(ServiceUnavailable):
            await verifier.verify(rs_token(rsa.generate_private_key(65537, 2048)))
        assert verifier.jwks is not None and verifier.jwks.fetches == 1
        with pytest.raises(ServiceUnavailable):
            await verifier.verify(rs_token(rsa.generate_private_key(65537, 2048)))
        assert verifier.jwks.fetches == 1  # a dead provider is not hammered once per request
    finally:
        await verifier.stop()


async def test_a_slow_provider_does_not_block_the_event_loop_and_is_asked_once(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks_server.delay = 0.5
    verifier = jwks_verifier(jwks_server.url)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        principals = await asyncio.wait_for(
            asyncio.gather(*(verifier.verify(rs_token(rsa_key)) for _ in range(10))), 10
        )
        assert len(principals) == 10
        assert jwks_server.hits == 1  # ten concurrent requests shared one fetch
        assert ticks >= 20  # the loop kept running during the 0.5 s fetch
    finally:
        ticker.cancel()
        await verifier.stop()


async def test_without_start_the_verifier_starts_itself_and_stop_ends_the_refresher(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = jwks_verifier(jwks_server.url, jwks_refresh_seconds=0.05)
    await verifier.verify(rs_token(rsa_key))
    await wait_until(lambda: jwks_server.hits >= 3)  # refreshing in the background
    await verifier.stop()
    hits = jwks_server.hits
    await asyncio.sleep(0.3)
    assert jwks_server.hits == hits


async def test_an_app_verifies_rs256_and_answers_503_problem_without_keys(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url, expected in ((jwks_server.url, 200), (f"http://127.0.0.1:{free_port()}/j", 503)):
        monkeypatch.setenv("BW_JWT_JWKS_URL", url)
        app = create_app(
            settings=ServiceSettings(service_name="jwks-app"),
            title="t",
            description="t",
            version="1",
            routers=[router],
        )
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                headers = {"Authorization": f"Bearer {rs_token(rsa_key)}"}
                response = await http.get("/me", headers=headers)
            await app.state.token_verifier.stop()
        assert response.status_code == expected, response.text
        if expected == 503:
            assert response.headers["content-type"] == "application/problem+json"


def test_jwks_over_http_needs_the_explicit_allowance() -> None:
    with pytest.raises(ValueError, match="must use https"):
        TokenVerifier(jwks_url="http://127.0.0.1:1/jwks.json")
    assert TokenVerifier(jwks_url="https://idp.example.org/jwks.json").jwks is not None


def test_settings_choose_jwks_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    # development (the tests' BW_ENVIRONMENT) is what allows a local http key server
    monkeypatch.setenv("BW_JWT_JWKS_URL", "http://127.0.0.1:1/jwks.json")
    verifier = TokenVerifier.from_settings(ServiceSettings(service_name="t"))
    assert verifier.jwks is not None and verifier.jwks.url.startswith("http://127.0.0.1")


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

"""Bearer-JWT authentication: verify tokens (HS256 with a shared secret, or RS256 with keys from a
JWKS URL), turn their claims into a `Principal`, and guard routes by role."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libs.domain.principal import (
    ALL_COUNTRIES,
    MAX_COUNTRIES,
    STAFF_ROLES,
    Principal,
    Role,
)
from libs.servicekit.jwks import ALGORITHM, MIN_REFETCH_SECONDS, REFRESH_SECONDS, JwksKeySet
from libs.servicekit.problems import Forbidden, Unauthorized
from libs.servicekit.settings import ServiceSettings

# Tolerated clock skew between the token issuer and this service.
CLOCK_LEEWAY_SECONDS = 30


def _countries_claim(
    claims: dict[str, Any], role: Role, *, unscoped_staff: bool
) -> frozenset[str] | None:
    """The staff member's country programmes from the `countries` claim: a list of ISO codes,
    or `"*"` (every country) for an admin of the headquarters. A staff token without the claim
    is refused unless `unscoped_staff` (development, where it means every country)."""
    if role not in STAFF_ROLES:
        return None
    value = claims.get("countries")
    if value is None:
        if unscoped_staff:
            return None
        raise Unauthorized(
            "A staff token needs a countries claim (the country programmes it works for).",
            invalid_token=True,
        )
    if value == ALL_COUNTRIES or value == [ALL_COUNTRIES]:
        if role is not Role.ADMIN:
            raise Unauthorized("Only an admin may work for every country.", invalid_token=True)
        return None
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_COUNTRIES
        or not all(
            isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha()
            for code in value
        )
    ):
        raise Unauthorized(
            'The token\'s countries claim must be a list of ISO 3166-1 alpha-2 codes, or "*".',
            invalid_token=True,
        )
    return frozenset(code.upper() for code in value)


def principal_from_claims(claims: dict[str, Any], *, unscoped_staff: bool = False) -> Principal:
    """Validate the business claims of an already signature-checked token. `unscoped_staff`
    accepts a staff token without a `countries` claim as working for every country
    (development only: tokens minted before the claim existed)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("The token has no subject.", invalid_token=True)
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise Unauthorized("The token has no valid role.", invalid_token=True) from None
    factory_id = claims.get("factory_id")
    buyer_id = claims.get("buyer_id")
    if factory_id is not None and not isinstance(factory_id, str):
        raise Unauthorized("The token's factory_id is not a string.", invalid_token=True)
    if buyer_id is not None and not isinstance(buyer_id, str):
        raise Unauthorized("The token's buyer_id is not a string.", invalid_token=True)
    if role is Role.FACTORY and not factory_id:
        raise Unauthorized("A factory token needs a factory_id claim.", invalid_token=True)
    if role is Role.BUYER and not buyer_id:
        raise Unauthorized("A buyer token needs a buyer_id claim.", invalid_token=True)
    issuer = claims.get("iss")
    if issuer is not None and not isinstance(issuer, str):
        raise Unauthorized("The token's iss is not a string.", invalid_token=True)
    # A tenant claim only means something for its own role; ignoring the others keeps a
    # staff token from being mistaken for a tenant's.
    return Principal(
        subject=subject,
        role=role,
        factory_id=factory_id if role is Role.FACTORY else None,
        buyer_id=buyer_id if role is Role.BUYER else None,
        issuer=issuer,
        countries=_countries_claim(claims, role, unscoped_staff=unscoped_staff),
    )


class TokenVerifier:
    """Checks a bearer token's signature, expiry, audience and issuer, and returns its principal.

    With a JWKS URL it is a `Lifecycle` component: `start` fetches the keys and keeps them fresh
    in the background, `stop` ends that; without `start` it starts itself on first use."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        allow_insecure_http: bool = False,
        jwks_refresh_seconds: float = REFRESH_SECONDS,
        jwks_min_refetch_seconds: float = MIN_REFETCH_SECONDS,
        unscoped_staff: bool = False,
    ) -> None:
        if not secret and not jwks_url:
            raise ValueError("a JWT secret or a JWKS URL is needed")
        self.audience = audience
        self.issuer = issuer
        self.unscoped_staff = unscoped_staff
        self._secret = secret
        self.jwks = (
            JwksKeySet(
                jwks_url,
                allow_insecure_http=allow_insecure_http,
                refresh_seconds=jwks_refresh_seconds,
                min_refetch_seconds=jwks_min_refetch_seconds,
            )
            if jwks_url
            else None
        )

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenVerifier:
        return cls(
            secret=None if settings.jwt_jwks_url else settings.jwt_secret,
            jwks_url=settings.jwt_jwks_url,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            # settings already refuse http outside development; this keeps it that way here
            allow_insecure_http=settings.is_development,
            # staff tokens without a countries claim: every country in development, refused
            # elsewhere (docs/operations.md, "Staff and their country programmes")
            unscoped_staff=settings.is_development,
        )

    async def start(self) -> None:
        if self.jwks is not None:
            await self.jwks.start()

    async def stop(self) -> None:
        if self.jwks is not None:
            await self.jwks.stop()

    async def _key_and_algorithms(self, token: str) -> tuple[Any, list[str]]:
        if self.jwks is None:
            return self._secret, ["HS256"]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError:
            raise Unauthorized("The token is not a JWT.", invalid_token=True) from None
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("The token's kid is not a string.", invalid_token=True)
        return await self.jwks.key_for(kid), [ALGORITHM]

    async def verify(self, token: str) -> Principal:
        """The token's principal; `Unauthorized` when it is malformed, forged or expired."""
        key, algorithms = await self._key_and_algorithms(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.", invalid_token=True) from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The token is not valid: {exc}", invalid_token=True) from None
        return principal_from_claims(claims, unscoped_staff=self.unscoped_staff)


# auto_error=False: a missing header must become our 401 problem, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="A JWT from the identity provider.")


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the verified caller, or a 401 problem."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("A bearer token is required.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role | str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only the given roles through (403 problem otherwise)."""
    allowed = frozenset(Role(role) for role in roles)
    if not allowed:
        raise ValueError("require_roles needs at least one role")

    async def check_role(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"The {principal.role} role may not do this.")
        return principal

    return check_role


def mint_token(
    secret: str,
    subject: str,
    role: Role | str,
    factory_id: str | None = None,
    buyer_id: str | None = None,
    ttl_seconds: int = 3600,
    *,
    audience: str | None = None,
    issuer: str | None = None,
    countries: list[str] | str | None = None,
) -> str:
    """An HS256 token with our claims, for tests and local development (`countries`: the staff
    member's country programmes, or "*" for the headquarters)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "role": str(Role(role)),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if factory_id is not None:
        claims["factory_id"] = factory_id
    if buyer_id is not None:
        claims["buyer_id"] = buyer_id
    if audience is not None:
        claims["aud"] = audience
    if issuer is not None:
        claims["iss"] = issuer
    if countries is not None:
        claims["countries"] = countries
    return jwt.encode(claims, secret, algorithm="HS256")


__all__ = [
    "ALL_COUNTRIES",
    "CLOCK_LEEWAY_SECONDS",
    "MAX_COUNTRIES",
    "STAFF_ROLES",
    "CurrentPrincipal",
    "Principal",
    "Role",
    "TokenVerifier",
    "get_principal",
    "mint_token",
    "principal_from_claims",
    "require_roles",
]

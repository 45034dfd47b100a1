"""Configuration every service shares, read from the environment (pydantic-settings).

Services subclass `ServiceSettings` to set their own name and port and to add their own options."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/betterwork"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
# Documented so that local runs and tests work out of the box; production sets BW_JWT_SECRET or
# BW_JWT_JWKS_URL.
DEV_JWT_SECRET = "bw-dev-secret-do-not-use-in-production"
# The only value of BW_ENVIRONMENT that relaxes the checks below; anything else (unset, a typo,
# "staging", "production") gets production behaviour, so a forgotten variable fails closed.
DEVELOPMENT = "development"
# HS256 keys shorter than the hash output (32 bytes) are brute-forceable (RFC 7518 §3.2).
MIN_JWT_SECRET_BYTES = 32


class ServiceSettings(BaseSettings):
    """Standard settings; the environment names are the conventional ones (PORT, DATABASE_URL, …).

    Outside development the service refuses to start unless authentication is configured safely:
    either BW_JWT_SECRET of at least 32 bytes (not the public development one), or BW_JWT_JWKS_URL
    over https with BW_JWT_ISSUER and BW_JWT_AUDIENCE."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str
    host: str = Field("0.0.0.0", validation_alias="HOST")
    port: int = Field(8000, validation_alias="PORT")
    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    nats_url: str = Field(DEFAULT_NATS_URL, validation_alias="NATS_URL")
    # Empty means "not configured": development then uses DEV_JWT_SECRET, production refuses.
    jwt_secret: str = Field("", validation_alias="BW_JWT_SECRET")
    # When set, tokens are RS256 and verified with the keys published at this JWKS URL.
    jwt_jwks_url: str | None = Field(None, validation_alias="BW_JWT_JWKS_URL")
    jwt_audience: str | None = Field(None, validation_alias="BW_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(None, validation_alias="BW_JWT_ISSUER")
    subject_prefix: str = Field("", validation_alias="BW_SUBJECT_PREFIX")
    max_request_bytes: int = Field(1_048_576, validation_alias="MAX_REQUEST_BYTES", gt=0)
    # a history import request (POST /v1/imports/<kind>): up to libs/servicekit/imports.py's own cap
    max_import_request_bytes: int = Field(
        33_554_432, validation_alias="MAX_IMPORT_REQUEST_BYTES", gt=0
    )
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    # "development" (set explicitly by `bw.py up`, the tests and Compose) or anything else,
    # which means production behaviour; unset is production too.
    environment: str = Field("production", validation_alias="BW_ENVIRONMENT")
    # replicas of the JetStream stream a service creates when it is missing (3 on a cluster)
    stream_replicas: int = Field(1, validation_alias="BW_STREAM_REPLICAS", ge=1, le=5)
    # off for a replica that must not publish (benchmarks measure the append alone with it)
    relay_enabled: bool = Field(True, validation_alias="BW_RELAY_ENABLED")

    @property
    def is_development(self) -> bool:
        return self.environment == DEVELOPMENT

    @model_validator(mode="after")
    def _fail_closed_outside_development(self) -> ServiceSettings:
        """Development gets the documented secret and may fetch keys over http; everywhere else
        an unsafe or missing authentication setting stops the service before it serves."""
        if self.is_development:
            if not self.jwt_secret:
                self.jwt_secret = DEV_JWT_SECRET
            return self
        problems = _jwks_problems(self) if self.jwt_jwks_url is not None else _secret_problems(self)
        if problems:
            stated = (
                f"BW_ENVIRONMENT={self.environment!r} is not 'development'"
                if "environment" in self.model_fields_set
                else "BW_ENVIRONMENT is unset"
            )
            raise ValueError(
                f"{stated}, so production rules apply: "
                + "; ".join(problems)
                + ". For a local run or tests set BW_ENVIRONMENT=development explicitly."
            )
        return self


def _secret_problems(settings: ServiceSettings) -> list[str]:
    secret = settings.jwt_secret
    if not secret:
        return [
            "no token verification is configured: set BW_JWT_JWKS_URL (with BW_JWT_ISSUER and "
            f"BW_JWT_AUDIENCE) or a private BW_JWT_SECRET of at least {MIN_JWT_SECRET_BYTES} bytes"
        ]
    if secret == DEV_JWT_SECRET:
        return ["BW_JWT_SECRET is the development secret, which is public; set a private one"]
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        return [
            f"BW_JWT_SECRET has {len(secret.encode())} bytes; at least {MIN_JWT_SECRET_BYTES} "
            "are needed (e.g. `openssl rand -base64 48`)"
        ]
    return []


def _jwks_problems(settings: ServiceSettings) -> list[str]:
    problems = []
    url = settings.jwt_jwks_url or ""
    if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        problems.append(f"BW_JWT_JWKS_URL must be an https:// URL, not {url!r}")
    if not settings.jwt_issuer:
        problems.append("BW_JWT_ISSUER is required with BW_JWT_JWKS_URL")
    if not settings.jwt_audience:
        problems.append("BW_JWT_AUDIENCE is required with BW_JWT_JWKS_URL")
    return problems


def async_database_url(url: str) -> str:
    """`postgresql://…` (or `postgres://`, or another driver) as SQLAlchemy's asyncpg URL."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a database URL: {url!r}")
    if scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise ValueError(f"not a PostgreSQL URL: {scheme}://…")
    return f"postgresql+asyncpg://{rest}"

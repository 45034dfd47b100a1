"""Configuration every service shares, read from the environment (pydantic-settings).

Services subclass `ServiceSettings` to set their own name and port and to add their own options."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/betterwork"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
# Documented so that local runs and tests work out of the box; production sets BW_JWT_SECRET or
# BW_JWT_JWKS_URL.
DEV_JWT_SECRET = "bw-dev-secret-do-not-use-in-production"


class ServiceSettings(BaseSettings):
    """Standard settings; the environment names are the conventional ones (PORT, DATABASE_URL, …)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str
    host: str = Field("0.0.0.0", validation_alias="HOST")
    port: int = Field(8000, validation_alias="PORT")
    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    nats_url: str = Field(DEFAULT_NATS_URL, validation_alias="NATS_URL")
    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias="BW_JWT_SECRET")
    # When set, tokens are RS256 and verified with the keys published at this JWKS URL.
    jwt_jwks_url: str | None = Field(None, validation_alias="BW_JWT_JWKS_URL")
    jwt_audience: str | None = Field(None, validation_alias="BW_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(None, validation_alias="BW_JWT_ISSUER")
    subject_prefix: str = Field("", validation_alias="BW_SUBJECT_PREFIX")
    max_request_bytes: int = Field(1_048_576, validation_alias="MAX_REQUEST_BYTES", gt=0)
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")


def async_database_url(url: str) -> str:
    """`postgresql://…` (or `postgres://`, or another driver) as SQLAlchemy's asyncpg URL."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a database URL: {url!r}")
    if scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise ValueError(f"not a PostgreSQL URL: {scheme}://…")
    return f"postgresql+asyncpg://{rest}"

"""Configuration every service shares, read from the environment (pydantic-settings).

Services subclass `ServiceSettings` to set their own name and port and to add their own options."""

from __future__ import annotations

from pydantic import Field, model_validator
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
    # "development" (local runs, tests) or anything else, e.g. "production"
    environment: str = Field("development", validation_alias="BW_ENVIRONMENT")
    # replicas of the JetStream stream a service creates when it is missing (3 on a cluster)
    stream_replicas: int = Field(1, validation_alias="BW_STREAM_REPLICAS", ge=1, le=5)

    @model_validator(mode="after")
    def _refuse_the_development_secret_outside_development(self) -> ServiceSettings:
        """Fail closed: outside development, a missing JWKS URL must not silently fall back to
        HS256 tokens signed with the public development secret."""
        if (
            self.environment != "development"
            and self.jwt_jwks_url is None
            and self.jwt_secret == DEV_JWT_SECRET
        ):
            raise ValueError(
                f"BW_ENVIRONMENT={self.environment}: set BW_JWT_JWKS_URL (RS256) or a private "
                "BW_JWT_SECRET; the development secret is public"
            )
        return self


def async_database_url(url: str) -> str:
    """`postgresql://…` (or `postgres://`, or another driver) as SQLAlchemy's asyncpg URL."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a database URL: {url!r}")
    if scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise ValueError(f"not a PostgreSQL URL: {scheme}://…")
    return f"postgresql+asyncpg://{rest}"

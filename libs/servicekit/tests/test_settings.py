"""Settings come from the conventional environment names; URLs are turned into asyncpg ones."""

from __future__ import annotations

import pytest

from libs.servicekit import ServiceSettings, async_database_url
from libs.servicekit.settings import DEFAULT_DATABASE_URL, DEV_JWT_SECRET


class AssessmentSettings(ServiceSettings):
    service_name: str = "assessment"
    port: int = 8001


def test_defaults_and_subclass_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "DATABASE_URL", "BW_JWT_SECRET", "BW_JWT_JWKS_URL", "BW_SUBJECT_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    settings = AssessmentSettings()
    assert (settings.service_name, settings.port) == ("assessment", 8001)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert settings.jwt_jwks_url is None
    assert settings.max_request_bytes == 1_048_576


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9100")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/x")
    monkeypatch.setenv("NATS_URL", "nats://n:4222")
    monkeypatch.setenv("BW_JWT_SECRET", "s3cret")
    monkeypatch.setenv("BW_JWT_JWKS_URL", "https://idp/jwks.json")
    monkeypatch.setenv("BW_SUBJECT_PREFIX", "test1.")
    settings = AssessmentSettings()
    assert settings.port == 9100
    assert settings.database_url == "postgresql://u@db:5432/x"
    assert settings.nats_url == "nats://n:4222"
    assert settings.jwt_secret == "s3cret"
    assert settings.jwt_jwks_url == "https://idp/jwks.json"
    assert settings.subject_prefix == "test1."
    assert AssessmentSettings(port=1234, jwt_secret="kw").port == 1234  # by field name too


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql+psycopg://h/db", "postgresql+asyncpg://h/db"),
    ],
)
def test_async_database_url(url: str, expected: str) -> None:
    assert async_database_url(url) == expected


def test_async_database_url_refuses_other_databases() -> None:
    with pytest.raises(ValueError):
        async_database_url("mysql://h/db")


class TestTheDevelopmentSecretOutsideDevelopment:
    def test_refuses_to_start_in_production_with_the_public_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in ("BW_JWT_SECRET", "BW_JWT_JWKS_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("BW_ENVIRONMENT", "production")
        with pytest.raises(ValueError, match="development secret is public"):
            AssessmentSettings()

    @pytest.mark.parametrize(
        ("name", "value"), [("BW_JWT_JWKS_URL", "https://idp/jwks.json"), ("BW_JWT_SECRET", "x9")]
    )
    def test_starts_in_production_with_a_jwks_url_or_a_private_secret(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        monkeypatch.setenv("BW_ENVIRONMENT", "production")
        monkeypatch.setenv(name, value)
        assert AssessmentSettings().environment == "production"

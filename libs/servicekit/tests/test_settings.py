"""Settings come from the conventional environment names; URLs are turned into asyncpg ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from libs.servicekit.settings import (
    DEFAULT_DATABASE_URL,
    DEV_JWT_SECRET,
    MIN_JWT_SECRET_BYTES,
    ServiceSettings,
    async_database_url,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


class AssessmentSettings(ServiceSettings):
    service_name: str = "assessment"
    port: int = 8001


def test_defaults_and_subclass_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BW_ENVIRONMENT", "development")
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


AUTH_VARIABLES = (
    "BW_ENVIRONMENT",
    "BW_JWT_SECRET",
    "BW_JWT_JWKS_URL",
    "BW_JWT_ISSUER",
    "BW_JWT_AUDIENCE",
)
PRIVATE_SECRET = "k" * MIN_JWT_SECRET_BYTES
IDP = {
    "BW_JWT_JWKS_URL": "https://idp.example.org/.well-known/jwks.json",
    "BW_JWT_ISSUER": "https://idp.example.org/",
    "BW_JWT_AUDIENCE": "betterwork-api",
}


@pytest.fixture
def clean_auth_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No authentication variable set, not even the conftest's BW_ENVIRONMENT=development."""
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class TestProductionIsTheDefaultAndFailsClosed:
    def test_without_any_variable_the_service_refuses_and_names_what_to_set(
        self, clean_auth_environment: pytest.MonkeyPatch
    ) -> None:
        with pytest.raises(ValueError) as refusal:
            AssessmentSettings()
        message = str(refusal.value)
        for name in ("BW_JWT_SECRET", "BW_JWT_JWKS_URL", "BW_ENVIRONMENT=development"):
            assert name in message

    def test_the_public_development_secret_is_refused(
        self, clean_auth_environment: pytest.MonkeyPatch
    ) -> None:
        clean_auth_environment.setenv("BW_ENVIRONMENT", "production")
        clean_auth_environment.setenv("BW_JWT_SECRET", DEV_JWT_SECRET)
        with pytest.raises(ValueError, match="development secret, which is public"):
            AssessmentSettings()

    @pytest.mark.parametrize("secret", ["x", "s" * (MIN_JWT_SECRET_BYTES - 1)])
    def test_a_short_secret_is_refused(
        self, clean_auth_environment: pytest.MonkeyPatch, secret: str
    ) -> None:
        clean_auth_environment.setenv("BW_ENVIRONMENT", "production")
        clean_auth_environment.setenv("BW_JWT_SECRET", secret)
        with pytest.raises(ValueError, match=f"at least {MIN_JWT_SECRET_BYTES} are needed"):
            AssessmentSettings()

    def test_a_secret_of_32_bytes_starts(self, clean_auth_environment: pytest.MonkeyPatch) -> None:
        clean_auth_environment.setenv("BW_JWT_SECRET", PRIVATE_SECRET)
        settings = AssessmentSettings()  # BW_ENVIRONMENT unset: production
        assert (settings.environment, settings.is_development) == ("production", False)
        assert settings.jwt_secret == PRIVATE_SECRET

    def test_jwks_over_https_with_issuer_and_audience_starts(
        self, clean_auth_environment: pytest.MonkeyPatch
    ) -> None:
        for name, value in IDP.items():
            clean_auth_environment.setenv(name, value)
        settings = AssessmentSettings()
        assert settings.jwt_jwks_url == IDP["BW_JWT_JWKS_URL"]
        assert settings.jwt_secret == ""  # no HS256 secret exists in production

    def test_jwks_over_plain_http_is_refused(
        self, clean_auth_environment: pytest.MonkeyPatch
    ) -> None:
        for name, value in IDP.items():
            clean_auth_environment.setenv(name, value)
        clean_auth_environment.setenv("BW_JWT_JWKS_URL", "http://idp.example.org/jwks.json")
        with pytest.raises(ValueError, match="must be an https:// URL"):
            AssessmentSettings()

    @pytest.mark.parametrize("missing", ["BW_JWT_ISSUER", "BW_JWT_AUDIENCE"])
    def test_jwks_without_issuer_or_audience_is_refused(
        self, clean_auth_environment: pytest.MonkeyPatch, missing: str
    ) -> None:
        for name, value in IDP.items():
            if name != missing:
                clean_auth_environment.setenv(name, value)
        with pytest.raises(ValueError, match=f"{missing} is required"):
            AssessmentSettings()

    @pytest.mark.parametrize("environment", ["dev", "Development", "staging", ""])
    def test_anything_but_development_is_production(
        self, clean_auth_environment: pytest.MonkeyPatch, environment: str
    ) -> None:
        clean_auth_environment.setenv("BW_ENVIRONMENT", environment)
        with pytest.raises(ValueError, match="is not 'development', so production rules apply"):
            AssessmentSettings()


class TestDevelopmentIsExplicit:
    def test_development_uses_the_documented_secret(
        self, clean_auth_environment: pytest.MonkeyPatch
    ) -> None:
        clean_auth_environment.setenv("BW_ENVIRONMENT", "development")
        settings = AssessmentSettings()
        assert settings.is_development
        assert settings.jwt_secret == DEV_JWT_SECRET

    def test_development_allows_a_local_http_jwks_without_issuer_or_audience(
        self, clean_auth_environment: pytest.MonkeyPatch
    ) -> None:
        clean_auth_environment.setenv("BW_ENVIRONMENT", "development")
        clean_auth_environment.setenv("BW_JWT_JWKS_URL", "http://127.0.0.1:9999/jwks.json")
        assert AssessmentSettings().jwt_jwks_url == "http://127.0.0.1:9999/jwks.json"

    def test_the_tests_run_in_development(self) -> None:
        # the root conftest.py says so explicitly; services the tests start inherit it
        assert os.environ["BW_ENVIRONMENT"] == "development"


def test_a_service_process_without_configuration_exits_naming_the_variables() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in AUTH_VARIABLES}
    # `migrate` reads the settings before it connects anywhere, so no server is needed
    result = subprocess.run(
        [sys.executable, "-m", "services.assessment", "migrate"],
        cwd=REPO_ROOT,
        env={**environment, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "BW_ENVIRONMENT is unset, so production rules apply" in result.stderr
    assert "BW_JWT_SECRET" in result.stderr and "BW_JWT_JWKS_URL" in result.stderr

"""The development token helper: every call without --sub is a caller of its own."""

from __future__ import annotations

import jwt
import pytest

from libs.servicekit.settings import DEV_JWT_SECRET
from libs.servicekit.tokens import main as token_cli


def mint(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert token_cli(["--secret", DEV_JWT_SECRET, *argv]) == 0
    token = capsys.readouterr().out.strip()
    claims: dict[str, object] = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"])
    return claims


def test_each_call_without_a_subject_mints_a_distinct_subject(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = mint(capsys, "--role", "factory", "--factory-id", "A")
    second = mint(capsys, "--role", "factory", "--factory-id", "B")
    assert first["sub"] != second["sub"]
    assert str(first["sub"]).startswith("dev-factory-")


def test_a_given_subject_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    claims = mint(capsys, "--role", "assessor", "--sub", "advisor-1")
    assert claims["sub"] == "advisor-1" and claims["role"] == "assessor"

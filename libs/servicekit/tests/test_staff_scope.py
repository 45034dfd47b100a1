"""Staff act within their country programmes: the `countries` claim, its validation, the
development allowance for tokens without it, and the token CLI's `--country`."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from libs.servicekit.auth import Role, TokenVerifier, mint_token
from libs.servicekit.problems import Unauthorized
from libs.servicekit.tokens import main as token_cli

SECRET = "test-secret-of-sufficient-length-32b"


def production() -> TokenVerifier:
    return TokenVerifier(secret=SECRET)


def development() -> TokenVerifier:
    return TokenVerifier(secret=SECRET, unscoped_staff=True)


async def test_a_staff_token_names_its_country_programmes() -> None:
    token = mint_token(SECRET, "advisor-1", Role.ASSESSOR, countries=["kh", "VN"])
    principal = await production().verify(token)
    assert principal.countries == frozenset({"KH", "VN"})
    assert principal.works_in("KH") and principal.works_in("vn")
    assert not principal.works_in("BD") and not principal.works_in(None)
    assert not principal.is_global


async def test_the_headquarters_admin_works_everywhere() -> None:
    principal = await production().verify(mint_token(SECRET, "hq", Role.ADMIN, countries="*"))
    assert principal.countries is None and principal.is_global
    assert principal.works_in("BD") and principal.works_in(None)


@pytest.mark.parametrize("role", [Role.ASSESSOR, Role.TRAINER, Role.ADMIN])
async def test_a_staff_token_without_countries_is_refused_outside_development(role: Role) -> None:
    token = mint_token(SECRET, "someone", role)
    with pytest.raises(Unauthorized, match="countries claim"):
        await production().verify(token)
    # development keeps tokens minted before the claim working, for every country
    principal = await development().verify(token)
    assert principal.countries is None and principal.works_in("KH")


@pytest.mark.parametrize(
    "countries",
    ["*", ["*"]],
)
async def test_only_an_admin_may_claim_every_country(countries: Any) -> None:
    token = mint_token(SECRET, "advisor-1", Role.ASSESSOR, countries=countries)
    with pytest.raises(Unauthorized, match="Only an admin"):
        await development().verify(token)


@pytest.mark.parametrize(
    "countries",
    [[], "KH", ["KHM"], ["K"], [1], ["k1"], ["ÅÅ"], ["KH"] * 251, {"KH": 1}],
)
async def test_a_malformed_countries_claim_is_refused(countries: Any) -> None:
    claims = {"sub": "advisor-1", "role": "assessor", "exp": 2**40, "countries": countries}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="countries claim must be"):
        await development().verify(token)


async def test_tenant_roles_ignore_the_claim() -> None:
    token = mint_token(SECRET, "f", Role.FACTORY, factory_id="F1", countries=["KH"])
    principal = await production().verify(token)
    assert principal.countries is None and not principal.works_in("KH")


async def test_the_token_cli_mints_a_scoped_staff_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        token_cli(["--role", "trainer", "--country", "kh", "--country", "VN", "--secret", SECRET])
        == 0
    )
    principal = await production().verify(capsys.readouterr().out.strip())
    assert principal.role is Role.TRAINER and principal.countries == frozenset({"KH", "VN"})


@pytest.mark.parametrize(
    "arguments",
    [
        ["--role", "assessor", "--country", "*"],
        ["--role", "admin", "--country", "*", "--country", "KH"],
        ["--role", "buyer", "--buyer-id", "B1", "--country", "KH"],
    ],
)
def test_the_token_cli_refuses_a_scope_that_cannot_be(arguments: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        token_cli([*arguments, "--secret", SECRET])
    assert exit_info.value.code == 2

"""Identifiers and codes the assessment service checks: Open Supply Hub IDs, ISO 3166-1 country
codes and ISIC Rev.4 sector codes. Pure."""

from __future__ import annotations

import re

import pycountry
from pydantic import JsonValue

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_OS_ID_SHAPE = re.compile(r"^[A-Z]{2}\d{4}\d{3}[0-9A-HJKMNP-TV-Z]{6}$")


def normalise_os_id(raw: str) -> str:
    """Validate an OS ID and return it without hyphens or spaces, upper case.

    Shape: country (2 letters), year (4 digits), day of year (3 digits), five Crockford base-32
    characters, then a check character: the Crockford symbol of (the two country letters' character
    codes + the base-32 values of the other 12 characters) mod 32.
    """
    candidate = re.sub(r"[\s-]", "", raw).upper()
    if not _OS_ID_SHAPE.match(candidate):
        raise ValueError("an OS ID is 2 letters, 7 digits and 6 Crockford base-32 characters")
    if pycountry.countries.get(alpha_2=candidate[:2]) is None:
        raise ValueError(f"{candidate[:2]} is not an ISO 3166-1 country code")
    if not 1 <= int(candidate[6:9]) <= 366:
        raise ValueError("the day of year in an OS ID is between 001 and 366")
    total = ord(candidate[0]) + ord(candidate[1])
    total += sum(CROCKFORD.index(character) for character in candidate[2:14])
    if CROCKFORD[total % 32] != candidate[14]:
        raise ValueError("the OS ID's check character does not match")
    return candidate


# ISIC Rev.4 divisions (the first two digits of a group or class code).
ISIC_DIVISIONS = frozenset(
    f"{division:02d}"
    for division in [
        *range(1, 4),
        *range(5, 10),
        *range(10, 34),
        35,
        *range(36, 40),
        *range(41, 44),
        *range(45, 48),
        *range(49, 54),
        55,
        56,
        *range(58, 64),
        *range(64, 67),
        68,
        *range(69, 76),
        *range(77, 83),
        84,
        85,
        *range(86, 89),
        *range(90, 94),
        *range(94, 97),
        97,
        98,
        99,
    ]
)

# For the OpenAPI document: the same rules as the validators below, as a client can check them.
ISIC_PATTERN = rf"^ *({'|'.join(sorted(ISIC_DIVISIONS))})[0-9]{{0,2}} *$"
COUNTRY_CODES: list[JsonValue] = [
    country.alpha_2 for country in sorted(pycountry.countries, key=lambda c: c.alpha_2)
]


def validate_country(value: str) -> str:
    country = value.strip().upper()
    if len(country) != 2 or pycountry.countries.get(alpha_2=country) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return country


def validate_isic(value: str) -> str:
    if not re.fullmatch(r"\d{2,4}", value) or value[:2] not in ISIC_DIVISIONS:
        raise ValueError(f"{value!r} is not an ISIC Rev.4 division, group or class code")
    return value

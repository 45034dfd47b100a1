"""Command line helper that mints development JWTs (HS256 with BW_JWT_SECRET or the documented
development secret): `python -m libs.servicekit.tokens --role factory --factory-id F1`, or
`--role assessor --country KH` for staff of a country programme."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence

from libs.servicekit.auth import STAFF_ROLES, Role, mint_token
from libs.servicekit.settings import DEV_JWT_SECRET


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 bw.py token", description="Print a development JWT for the local services."
    )
    parser.add_argument("--role", required=True, choices=[role.value for role in Role])
    parser.add_argument(
        "--sub",
        default=None,
        help="subject (default: a new one per call, dev-<role>-<random>, so that two users are "
        "never one caller)",
    )
    parser.add_argument("--factory-id", default=None, help="required for --role factory")
    parser.add_argument("--buyer-id", default=None, help="required for --role buyer")
    parser.add_argument(
        "--country",
        action="append",
        default=None,
        help="a country programme (ISO code) a staff member works for; repeat for several, or "
        '"*" for the headquarters (admin only). Outside development a staff token needs it',
    )
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    parser.add_argument(
        "--secret",
        default=None,
        help="HS256 secret (default: $BW_JWT_SECRET, else the documented development secret)",
    )
    parser.add_argument("--audience", default=os.environ.get("BW_JWT_AUDIENCE"))
    parser.add_argument("--issuer", default=os.environ.get("BW_JWT_ISSUER"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    role = Role(args.role)
    if role is Role.FACTORY and not args.factory_id:
        parser.error("--role factory needs --factory-id")
    if role is Role.BUYER and not args.buyer_id:
        parser.error("--role buyer needs --buyer-id")
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    countries: list[str] | str | None = args.country
    if countries is not None:
        if role not in STAFF_ROLES:
            parser.error("--country is for staff roles (admin, assessor, trainer)")
        if "*" in countries:
            if role is not Role.ADMIN or len(countries) > 1:
                parser.error('--country "*" is for an admin of the headquarters, alone')
            countries = "*"
        else:
            countries = [country.upper() for country in countries]
    secret = args.secret or os.environ.get("BW_JWT_SECRET") or DEV_JWT_SECRET
    token = mint_token(
        secret,
        args.sub or f"dev-{role.value}-{secrets.token_hex(4)}",
        role,
        factory_id=args.factory_id,
        buyer_id=args.buyer_id,
        ttl_seconds=args.ttl,
        audience=args.audience,
        issuer=args.issuer,
        countries=countries,
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

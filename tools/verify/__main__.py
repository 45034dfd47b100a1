"""Command line of the offline verifier: `python -m tools.verify FILE` (what `python3 bw.py verify`
runs). Prints each check of `verify_bundle` and exits 0 when every one passed, 1 when one failed,
2 when the file cannot be read. It never opens a socket: everything it needs is in the file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from libs.credentials.verify import Verification, verify_bundle

# A report with every finding is a few hundred kilobytes; a "bundle" far larger is not one.
MAX_FILE_BYTES = 64 * 1024 * 1024


class Unreadable(Exception):
    """The file cannot be read or is not JSON."""


def _read(path: Path, what: str, as_json: bool = True) -> Any:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise Unreadable(f"{what} {path} is larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise Unreadable(f"cannot read {what} {path}: {error}") from None
    if not as_json:
        return text.strip()
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise Unreadable(f"{what} {path} is not JSON: {error}") from None


def _summary(verification: Verification) -> list[tuple[str, str]]:
    credential = verification.credential
    issuer = credential.get("issuer")
    subject = credential.get("credentialSubject")
    party = subject.get("issuedToParty") if isinstance(subject, dict) else None
    rows = [
        ("credential", credential.get("id")),
        ("issuer", issuer.get("id") if isinstance(issuer, dict) else issuer),
        ("issued to", party.get("name") or party.get("id") if isinstance(party, dict) else None),
        ("valid from", credential.get("validFrom")),
    ]
    return [(label, str(value)) for label, value in rows if value]


def render(name: str, verification: Verification, stream: TextIO) -> None:
    stream.write(f"Credential bundle {name}\n")
    for label, value in _summary(verification):
        stream.write(f"  {label:<11}{value}\n")
    stream.write("\n")
    width = max(len(check.name) for check in verification.checks)
    for check in verification.checks:
        mark = "PASS" if check.passed else "FAIL"
        stream.write(f"  {mark}  {check.name:<{width}}  {check.reason}\n")
    failed = [check.name for check in verification.failed]
    if failed:
        stream.write(
            f"\nNOT VERIFIED: {len(failed)} of {len(verification.checks)} checks failed: "
            f"{', '.join(failed)}\n"
        )
    else:
        stream.write(f"\nVERIFIED: all {len(verification.checks)} checks passed, offline\n")


def main(argv: list[str] | None = None, stream: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 bw.py verify",
        description=(
            "Verify an offline credential bundle (a report's verifiable credential with its "
            "issuer's DID document, status list and contexts) with no network, and print each "
            "check. Exit status: 0 verified, 1 a check failed, 2 the file cannot be read."
        ),
    )
    parser.add_argument("file", help="the bundle (JSON), e.g. demo-credential-bundle.json")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument(
        "--status-list",
        metavar="FILE",
        help="a newer status list credential (compact JWS, as served at the credential's "
        "statusListCredential URL) to check the status against instead of the bundled one",
    )
    parser.add_argument(
        "--did-document",
        metavar="FILE",
        help="a copy of the issuer's DID document you trust (its /.well-known/did.json): the "
        "signing key must be in it",
    )
    parser.add_argument(
        "--at",
        metavar="DATETIME",
        type=datetime.fromisoformat,
        help="verify as of this instant (ISO 8601 with a time zone) instead of now",
    )
    # bw.py runs tools from the repository root: it passes the caller's directory along
    parser.add_argument("--cwd", default=os.getcwd(), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.at is not None and args.at.tzinfo is None:
        parser.error("--at needs a time zone, e.g. 2026-03-05T09:00:00Z")
    base = Path(args.cwd)
    try:
        bundle = _read(base / args.file, "the bundle")
        status_list = (
            _read(base / args.status_list, "the status list", as_json=False)
            if args.status_list
            else None
        )
        trusted = _read(base / args.did_document, "the DID document") if args.did_document else None
    except Unreadable as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2
    if trusted is not None and not isinstance(trusted, dict):
        print("verify: the trusted DID document is not a JSON object", file=sys.stderr)
        return 2
    verification = verify_bundle(
        bundle, now=args.at, status_list=status_list, trusted_did_document=trusted
    )
    if args.json:
        stream.write(json.dumps(verification.as_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        render(args.file, verification, stream)
    return 0 if verification.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Credentials secured with JOSE (W3C VC-JOSE-COSE): a compact JWS whose payload is the credential
itself, header `{"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": "<did>#<kid>"}`.

Signing uses `cryptography`'s Ed25519 directly (deterministic signatures: the same credential
signed twice gives the same token). `verify` checks a token against a DID document's keys, for the
issuing side's own checks; buyers verify with the offline bundle (`libs.credentials.verify`) or
any JOSE library (docs/verifying.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from libs.credentials.did import method_id
from libs.credentials.keys import ALGORITHM, SigningKey, b64url, b64url_decode

VC_JWT = "vc+jwt"
MEDIA_TYPE = "application/vc+jwt"


class JoseError(ValueError):
    """A token that is not a compact JWS this issuer signed, with the reason."""


@dataclass(frozen=True)
class Verified:
    header: dict[str, Any]
    payload: dict[str, Any]


def compact_json(value: Any) -> bytes:
    """The payload's JSON: no spaces, UTF-8 (not canonical: the signature covers these bytes)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def header_for(did: str, key: SigningKey, *, typ: str = VC_JWT) -> dict[str, str]:
    return {"alg": ALGORITHM, "typ": typ, "cty": "vc", "kid": method_id(did, key.kid)}


def sign(payload: dict[str, Any], key: SigningKey, did: str, *, typ: str = VC_JWT) -> str:
    """The compact JWS of `payload` signed by `key` of the issuer `did`."""
    signing_input = (
        b64url(compact_json(header_for(did, key, typ=typ))) + "." + b64url(compact_json(payload))
    )
    return signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))


def decode(token: str) -> Verified:
    """The header and payload of a compact JWS, NOT verified (to read its `kid` first)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise JoseError("not a compact JWS (three dot-separated parts)")
    header_part, payload_part, _signature = token.split(".")
    parts: list[dict[str, Any]] = []
    for name, part in (("header", header_part), ("payload", payload_part)):
        try:
            value = json.loads(b64url_decode(part))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise JoseError(f"the {name} is not base64url JSON") from None
        if not isinstance(value, dict):
            raise JoseError(f"the {name} is not a JSON object")
        parts.append(value)
    return Verified(parts[0], parts[1])


def verify(token: str, did_document: dict[str, Any], *, typ: str = VC_JWT) -> Verified:
    """The header and payload of `token` once its EdDSA signature verifies with the key its
    `kid` names among the DID document's assertion methods."""
    decoded = decode(token)
    header = decoded.header
    if header.get("alg") != ALGORITHM or header.get("typ") != typ:
        raise JoseError(f"header alg/typ {header.get('alg')!r}/{header.get('typ')!r}")
    if "crit" in header:
        raise JoseError("critical header parameters are not understood")
    kid = header.get("kid")
    assertion = set(did_document.get("assertionMethod", []))
    methods = [
        method
        for method in did_document.get("verificationMethod", [])
        if isinstance(method, dict) and method.get("id") == kid and kid in assertion
    ]
    if len(methods) != 1:
        raise JoseError(f"kid {kid!r} is not an assertion method of {did_document.get('id')}")
    jwk = methods[0].get("publicKeyJwk", {})
    try:
        public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk.get("x", "")))
    except ValueError:
        raise JoseError(f"{kid} is not an Ed25519 public key") from None
    signing_input, _, signature = token.rpartition(".")
    try:
        public_key.verify(b64url_decode(signature), signing_input.encode("ascii"))
    except (InvalidSignature, ValueError):
        raise JoseError("the signature does not verify") from None
    return decoded

"""The issuer's `did:web` DID: its DID document (every key of the ring as a `JsonWebKey`
verification method `<did>#<kid>`, each an assertionMethod) and the same keys as a JWKS.

did:web (https://w3c-ccg.github.io/did-method-web/): `did:web:localhost%3A8001` is resolved at
`https://localhost:8001/.well-known/did.json`; `did:web:example.org:programme` at
`https://example.org/programme/did.json`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from libs.credentials.keys import KeyRing

DID_CONTEXTS = ("https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1")
# host (with a %3A-encoded port), then optional path segments, each colon-separated
_DID_WEB = re.compile(
    r"did:web:(?P<host>[A-Za-z0-9.-]+(?:%3[Aa][0-9]{1,5})?)(?P<path>(?::[A-Za-z0-9._~%-]+)*)"
)


class DidError(ValueError):
    """Not a did:web DID this service can be."""


def check_did_web(did: str) -> str:
    """`did` if it is a did:web DID (host, optional %3A port, optional path), else DidError."""
    if not isinstance(did, str) or not _DID_WEB.fullmatch(did):
        raise DidError(
            f"{did!r} is not a did:web DID (e.g. did:web:localhost%3A8001 or did:web:example.org)"
        )
    return did


def did_web_url(did: str, *, scheme: str = "https") -> str:
    """Where a did:web DID's document is served (the method's own rule; `scheme` http only for
    a local run)."""
    match = _DID_WEB.fullmatch(check_did_web(did))
    assert match is not None
    host = unquote(match["host"])
    path = [unquote(segment) for segment in match["path"].split(":") if segment]
    if not path:
        return f"{scheme}://{host}/.well-known/did.json"
    return f"{scheme}://{host}/{'/'.join(path)}/did.json"


def method_id(did: str, kid: str) -> str:
    """The verification method id of a key: `<did>#<kid>`, the JWS header's `kid`."""
    return f"{did}#{kid}"


def did_document(did: str, ring: KeyRing) -> dict[str, Any]:
    """The DID document of the issuer: every key of the ring (the signing key first)."""
    check_did_web(did)
    methods = [
        {
            "id": method_id(did, key.kid),
            "type": "JsonWebKey",
            "controller": did,
            "publicKeyJwk": key.public_jwk(),
        }
        for key in ring
    ]
    ids = [method["id"] for method in methods]
    return {
        "@context": list(DID_CONTEXTS),
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
    }


def jwks(ring: KeyRing) -> dict[str, Any]:
    """The ring's public keys as a JWKS (RFC 7517 §5), for JOSE libraries that read one."""
    return {"keys": [key.public_jwk() for key in ring]}

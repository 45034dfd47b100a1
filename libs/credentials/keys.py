"""The issuer's Ed25519 signing keys: one `SigningKey` per private JWK, and the `KeyRing` of a
service (the active key first, then every key still published so that what it signed verifies).

The ring is configured as a JSON array of private JWKs (`BW_CREDENTIAL_KEYS`):
`[{"kty": "OKP", "crv": "Ed25519", "d": "...", "x": "...", "kid": "2026-12"}, ...]`. To rotate,
put a new key first and keep the old one after it for as long as its credentials must verify."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

# A key id is a DID URL fragment (`<did>#<kid>`) and a JWK `kid`: keep it to unreserved characters.
_KID = re.compile(r"[A-Za-z0-9._~-]{1,64}")
ALGORITHM = "EdDSA"


class KeyConfigurationError(ValueError):
    """The configured keys are not a usable ring of Ed25519 private JWKs."""


def b64url(raw: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url without padding, strictly: another alphabet or padding is an error."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(public_raw: bytes) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key: the id a
    generated key gets."""
    members = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": b64url(public_raw)}, separators=(",", ":")
    )
    return b64url(hashlib.sha256(members.encode()).digest())


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with its key id."""

    kid: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        if not _KID.fullmatch(self.kid):
            raise KeyConfigurationError(
                f"kid {self.kid!r} must be 1-64 characters of A-Z a-z 0-9 . _ ~ -"
            )

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        """A new random key; its id is its thumbprint unless given."""
        private_key = Ed25519PrivateKey.generate()
        raw = private_key.public_key().public_bytes_raw()
        return cls(kid or thumbprint(raw), private_key)

    @classmethod
    def from_jwk(cls, jwk: Any) -> SigningKey:
        """A key from its private JWK (`kty` OKP, `crv` Ed25519, `d`, `x`, `kid`); `x` must be
        the public key of `d`, so that a key pasted half from another is refused."""
        if not isinstance(jwk, dict):
            raise KeyConfigurationError("a key is not a JSON object (a private JWK)")
        kid = jwk.get("kid")
        if not isinstance(kid, str):
            raise KeyConfigurationError("a key has no kid")
        if not _KID.fullmatch(kid):
            raise KeyConfigurationError(
                f"kid {kid!r} must be 1-64 characters of A-Z a-z 0-9 . _ ~ -"
            )
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise KeyConfigurationError(f"key {kid!r} is not Ed25519 (kty OKP, crv Ed25519)")
        if jwk.get("alg", ALGORITHM) != ALGORITHM:
            raise KeyConfigurationError(f"key {kid!r} has alg {jwk.get('alg')!r}, not EdDSA")
        d, x = jwk.get("d"), jwk.get("x")
        if not isinstance(d, str) or not isinstance(x, str):
            raise KeyConfigurationError(f"key {kid!r} lacks its private part d or public part x")
        try:
            private_raw, public_raw = b64url_decode(d), b64url_decode(x)
        except ValueError:
            raise KeyConfigurationError(f"key {kid!r}: d or x is not base64url") from None
        if len(private_raw) != 32 or len(public_raw) != 32:
            raise KeyConfigurationError(f"key {kid!r}: d and x must be 32 bytes each")
        private_key = Ed25519PrivateKey.from_private_bytes(private_raw)
        if private_key.public_key().public_bytes_raw() != public_raw:
            raise KeyConfigurationError(f"key {kid!r}: x is not the public key of d")
        return cls(kid, private_key)

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    def public_jwk(self) -> dict[str, str]:
        """The public JWK (never `d`)."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(self.public_raw),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    def private_jwk(self) -> dict[str, str]:
        """The private JWK, as `BW_CREDENTIAL_KEYS` holds it (a secret)."""
        raw = self.private_key.private_bytes_raw()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "d": b64url(raw),
            "x": b64url(self.public_raw),
            "kid": self.kid,
        }

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature of `data` (64 bytes; deterministic)."""
        return self.private_key.sign(data)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:  # never the private key in a log or a traceback
        return f"SigningKey(kid={self.kid!r})"


@dataclass(frozen=True)
class KeyRing:
    """The keys of an issuer: `active` (the first) signs; all are published for verification."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigurationError("a key ring needs at least one key")
        kids = [key.kid for key in self.keys]
        duplicates = sorted({kid for kid in kids if kids.count(kid) > 1})
        if duplicates:
            raise KeyConfigurationError(f"key ids must be unique: {', '.join(duplicates)}")

    @classmethod
    def of(cls, keys: Sequence[SigningKey]) -> KeyRing:
        return cls(tuple(keys))

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        """The ring of `BW_CREDENTIAL_KEYS`: a JSON array of private JWKs, the signing key first
        (a single JWK object is taken as a ring of one)."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise KeyConfigurationError(f"not JSON: {error.msg}") from None
        if isinstance(document, dict):
            document = [document]
        if not isinstance(document, list):
            raise KeyConfigurationError("not a JSON array of private JWKs")
        return cls(tuple(SigningKey.from_jwk(jwk) for jwk in document))

    @property
    def active(self) -> SigningKey:
        return self.keys[0]

    def get(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def __iter__(self) -> Iterator[SigningKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def to_json(self) -> str:
        """The ring as `BW_CREDENTIAL_KEYS` takes it (private: a secret)."""
        return json.dumps([key.private_jwk() for key in self.keys])

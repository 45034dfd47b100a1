"""Standard Webhooks secrets and signatures (pure): `whsec_` + base64 of random bytes, and
`v1,` + base64 HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`; during a rotation
overlap the header carries one signature per valid secret, space-separated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification allows 24 to 64


def new_secret(size: int = SECRET_BYTES) -> str:
    if not 24 <= size <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def fingerprint(secret: str) -> str:
    """What events and logs may carry instead of the secret: a short hash of it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(keys: Iterable[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(key, webhook_id, timestamp, body) for key in keys)


def headers(keys: Iterable[bytes], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, webhook_id, timestamp, body),
    }

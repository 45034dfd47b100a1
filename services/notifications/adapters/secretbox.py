"""Endpoint secrets at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from
`cryptography`) under a key from settings. A list of keys rotates the key itself: the first
encrypts, every one decrypts (MultiFernet)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Documented development key, like the development JWT secret: production sets its own.
DEV_KEY = "bnVYeGZrX2Rldi1rZXktZG8tbm90LXVzZS1pbi1wcm8="


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
        except InvalidToken as error:
            raise ValueError(
                "a webhook secret cannot be decrypted with the configured keys"
            ) from error

"""Event identifiers as text, made without `uuid.UUID` objects: the store makes one per appended
event and the public contract one per published event, and in a consumer applying a backlog the
`uuid` module's objects (and one `os.urandom` system call per random id) were a visible share of
the CPU. Same values and format as `str(uuid.uuid4())` / `str(uuid.uuid5(namespace, name))`."""

from __future__ import annotations

import hashlib
import os


def _format(raw: bytes | bytearray, version: int) -> str:
    octets = bytearray(raw[:16])
    octets[6] = (octets[6] & 0x0F) | (version << 4)
    octets[8] = (octets[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = octets.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def random_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs, from one read of the system's random source."""
    pool = os.urandom(16 * count)
    return [_format(pool[start : start + 16], 4) for start in range(0, 16 * count, 16)]


def name_id(namespace: str, name: str) -> str:
    """The name-based (version 5, SHA-1) UUID of `name` in the namespace given as a UUID's text."""
    # SHA-1 is what RFC 4122 names for version 5: an identifier, not a security measure
    digest = hashlib.sha1(
        bytes.fromhex(namespace.replace("-", "")) + name.encode(), usedforsecurity=False
    ).digest()
    return _format(digest, 5)

"""The W3C Bitstring Status List (https://www.w3.org/TR/vc-bitstring-status-list/): a credential's
`BitstringStatusListEntry`, the list's bits (index 0 is the first byte's most significant bit),
its `encodedList` (GZIP, base64url, multibase prefix `u`) and the `BitstringStatusListCredential`
that publishes it. Pure.

Our lists are of purpose `message` with one bit per credential: 0 `valid`, 1 `superseded` (a
correction issued a newer credential of the same report). A list has 131,072 entries, the
minimum the standard asks so that one credential hides among many, and credentials take their
index in a fixed permutation of the list (`position`), so neighbouring indices say nothing of
the order of issuance."""

from __future__ import annotations

import base64
import gzip
from typing import Any

LIST_SIZE = 131_072
LIST_BYTES = LIST_SIZE // 8
PURPOSE = "message"
VALID, SUPERSEDED = 0, 1
STATUS_MESSAGES = (
    {"status": "0x0", "message": "valid"},
    {"status": "0x1", "message": "superseded"},
)
# index = (n * MULTIPLIER + OFFSET) mod LIST_SIZE is a bijection of 0..LIST_SIZE-1 (the
# multiplier is odd and LIST_SIZE a power of two)
_MULTIPLIER = 0x9E37
_OFFSET = 0x5A5A
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


def position(sequence_number: int) -> tuple[int, int]:
    """The list (1, 2, …) and index of the `sequence_number`-th credential (from 0)."""
    if sequence_number < 0:
        raise ValueError("a sequence number is not negative")
    list_number, offset = divmod(sequence_number, LIST_SIZE)
    return list_number + 1, (offset * _MULTIPLIER + _OFFSET) % LIST_SIZE


def empty_list() -> bytes:
    return bytes(LIST_BYTES)


def with_bit(bits: bytes, index: int, value: int = SUPERSEDED) -> bytes:
    """`bits` with the bit at `index` set to `value` (0 or 1)."""
    _check_index(bits, index)
    changed = bytearray(bits)
    mask = 0x80 >> (index % 8)
    changed[index // 8] = changed[index // 8] | mask if value else changed[index // 8] & ~mask
    return bytes(changed)


def bit(bits: bytes, index: int) -> int:
    _check_index(bits, index)
    return (bits[index // 8] >> (7 - index % 8)) & 1


def postgres_bit(index: int) -> int:
    """The bit number PostgreSQL's `set_bit(bytea, n, v)` takes for our `index` (it counts the
    bits of a byte from the least significant)."""
    return (index // 8) * 8 + 7 - index % 8


def _check_index(bits: bytes, index: int) -> None:
    if not 0 <= index < len(bits) * 8:
        raise IndexError(f"status index {index} is outside a list of {len(bits) * 8}")


def encode_list(bits: bytes) -> str:
    """The `encodedList` of `bits`: multibase base64url (no padding) of their GZIP (no time in
    the GZIP header, so the same bits always encode the same)."""
    compressed = gzip.compress(bits, compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode_list(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("not multibase base64url (prefix u)")
    text = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def status_entry(list_url: str, index: int) -> dict[str, Any]:
    """A credential's `credentialStatus`: its bit in the list at `list_url`."""
    if not 0 <= index < LIST_SIZE:
        raise IndexError(f"status index {index} is outside a list of {LIST_SIZE}")
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": PURPOSE,
        "statusListIndex": str(index),
        "statusSize": 1,
        "statusMessage": [dict(message) for message in STATUS_MESSAGES],
        "statusListCredential": list_url,
    }


def status_list_credential(
    list_url: str, issuer: str, bits: bytes, valid_from: str
) -> dict[str, Any]:
    """The `BitstringStatusListCredential` publishing `bits` (as of `valid_from`, an RFC 3339
    date-time), to be signed by the issuer."""
    return {
        "@context": [VC_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": PURPOSE,
            "encodedList": encode_list(bits),
        },
    }

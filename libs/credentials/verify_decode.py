"""The decoding under the offline verifier (`verify.py`), strict and bounded: compact JWS, DID
documents' verification methods, Ed25519 JWKs, Bitstring Status List entries and lists. A value
out of its standard raises `CheckFailed` with the reason, never another exception."""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class CheckFailed(Exception):
    """Raised inside a check: the check fails with this message."""


def as_list(value: Any) -> list[Any]:
    """A JSON-LD value that may be one item or a list of them, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


MIN_STATUS_LIST_BITS = 131_072
# A status list of the minimum size is 16 KiB; a gzip that inflates past this is not one.
MAX_STATUS_LIST_BYTES = 16 * 1024 * 1024
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Jws:
    """A compact JWS taken apart (not yet verified)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def b64url_decode(text: str, what: str) -> bytes:
    """Base64url without padding, strictly (no padding, no other alphabet, no stray bits)."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CheckFailed(f"{what} is not base64url")
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() != text:
        raise CheckFailed(f"{what} is not canonical base64url")
    return decoded


def decode_jws(token: Any, what: str) -> Jws:
    if not isinstance(token, str) or token.count(".") != 2:
        raise CheckFailed(f"{what} is not a compact JWS (three dot-separated parts)")
    header_part, payload_part, signature_part = token.split(".")
    parts = []
    for name, part in (("header", header_part), ("payload", payload_part)):
        try:
            value = json.loads(b64url_decode(part, f"{what}'s {name}"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise CheckFailed(f"{what}'s {name} is not JSON") from None
        if not isinstance(value, dict):
            raise CheckFailed(f"{what}'s {name} is not a JSON object")
        parts.append(value)
    signature = b64url_decode(signature_part, f"{what}'s signature")
    signing_input = f"{header_part}.{payload_part}".encode("ascii")
    return Jws(parts[0], parts[1], signing_input, signature)


def find_verification_method(
    document: Mapping[str, Any], kid: str, purpose: str | None = None
) -> dict[str, Any] | None:
    """The verification method `kid` (absolute, `<did>#<fragment>`) of a DID document; with
    `purpose`, only if that relationship (e.g. assertionMethod) lists it."""
    did = document.get("id")

    def absolute(reference: Any) -> Any:
        if isinstance(reference, str) and reference.startswith("#"):
            return f"{did}{reference}"
        return reference

    methods = [m for m in as_list(document.get("verificationMethod")) if isinstance(m, dict)]
    if purpose is not None:
        listed = as_list(document.get(purpose))
        references = {absolute(r) for r in listed if isinstance(r, str)}
        embedded = [m for m in listed if isinstance(m, dict)]
        methods = [m for m in methods if absolute(m.get("id")) in references] + embedded
    found = [m for m in methods if absolute(m.get("id")) == kid]
    return {**found[0], "id": kid} if len(found) == 1 else None


def public_key_of(method: Mapping[str, Any]) -> bytes:
    """The raw Ed25519 public key of a verification method's `publicKeyJwk`."""
    jwk = method.get("publicKeyJwk")
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise CheckFailed(f"{method.get('id')} is not an Ed25519 JWK (kty OKP, crv Ed25519)")
    if "d" in jwk:
        raise CheckFailed(f"{method.get('id')} publishes a PRIVATE key (d): never trust it")
    x = jwk.get("x")
    raw = b64url_decode(x, f"{method.get('id')}'s x") if isinstance(x, str) else b""
    if len(raw) != 32:
        raise CheckFailed(f"{method.get('id')}'s x is not a 32-byte Ed25519 public key")
    return raw


def verify_signature(jws: Jws, public_key: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(jws.signature, jws.signing_input)
    except InvalidSignature:
        raise CheckFailed(f"{what}'s signature does not verify: it was altered") from None


def read_status(entry: Any, status_list: Mapping[str, Any]) -> tuple[bool, str]:
    """A `BitstringStatusListEntry` read from the status list credential's payload: whether the
    credential stands (bit 0 of a revocation or suspension list; message `valid` of a message
    list), and what the entry says."""
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        raise CheckFailed("credentialStatus is not a BitstringStatusListEntry")
    if entry.get("statusListCredential") != status_list.get("id"):
        raise CheckFailed(
            f"the entry names the list {entry.get('statusListCredential')!r}, "
            f"the list checked is {status_list.get('id')!r}"
        )
    subject = status_list.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise CheckFailed("the status list's subject is not a BitstringStatusList")
    purpose = entry.get("statusPurpose")
    if purpose not in as_list(subject.get("statusPurpose")):
        raise CheckFailed(f"the list is not of the entry's purpose {purpose!r}")
    index, size = _unsigned(entry.get("statusListIndex")), _unsigned(entry.get("statusSize", 1))
    if index is None or size is None or not 1 <= size <= 8:
        raise CheckFailed("statusListIndex or statusSize is not a non-negative integer (size 1-8)")
    bits = _bitstring(subject.get("encodedList"))
    if (index + 1) * size > len(bits) * 8:
        raise CheckFailed(f"statusListIndex {index} is past the list's end")
    value = 0
    for position in range(index * size, (index + 1) * size):
        value = value << 1 | (bits[position // 8] >> (7 - position % 8)) & 1
    where = f"index {index} of {status_list.get('id')}"
    if purpose == "message" or size > 1:
        message = _status_message(entry, value)
        return message == "valid", f"{where} is {value:#x}: {message}"
    state = _PURPOSE_STATE.get(str(purpose), str(purpose))
    if value:
        return False, f"{where} is set: the credential is {state}"
    return True, f"{where} is not set: not {state}"


_PURPOSE_STATE = {"revocation": "revoked", "suspension": "suspended"}


def _unsigned(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    return None


def _status_message(entry: Mapping[str, Any], value: int) -> str:
    for message in as_list(entry.get("statusMessage")):
        status = message.get("status") if isinstance(message, dict) else None
        if (
            isinstance(status, str)
            and re.fullmatch(r"0x[0-9a-fA-F]{1,4}", status)
            and int(status, 16) == value
            and isinstance(message.get("message"), str)
        ):
            return str(message["message"])
    raise CheckFailed(f"the entry's statusMessage says nothing of status {value:#x}")


def _bitstring(encoded: Any) -> bytes:
    """Multibase base64url (`u`) of the GZIP-compressed bitstring, inflated within a bound."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise CheckFailed("encodedList is not multibase base64url (prefix u)")
    compressed = b64url_decode(encoded[1:], "encodedList")
    inflater = zlib.decompressobj(wbits=31)
    try:
        bits = inflater.decompress(compressed, MAX_STATUS_LIST_BYTES)
    except zlib.error:
        raise CheckFailed("encodedList is not GZIP-compressed") from None
    if inflater.unconsumed_tail:
        raise CheckFailed("encodedList inflates past any status list's size")
    if not inflater.eof:
        raise CheckFailed("encodedList is a truncated GZIP stream")
    if len(bits) * 8 < MIN_STATUS_LIST_BITS:
        raise CheckFailed(
            f"the status list has {len(bits) * 8} bits, fewer than the {MIN_STATUS_LIST_BITS} "
            "that hide one credential among many"
        )
    return bits


TREE_HEAD_FORMAT = "betterwork-tree-head/1"
_TREE_HEAD_MEMBERS = frozenset(
    {"format", "service", "position", "stream_count", "event_count", "root", "signed_at", "kid",
     "public_key", "signature"}
)  # fmt: skip


def check_tree_head(head: Any, service: str) -> str:
    """A signed tree head of `service`'s history (`betterwork-tree-head/1`): its members, and its
    Ed25519 signature over the canonical JSON (sorted keys, no spaces, UTF-8) of every member but
    `signature`, with the public key it carries. Returns what it says."""
    if not isinstance(head, dict) or set(head) != _TREE_HEAD_MEMBERS:
        raise CheckFailed(f"the tree head is not a JSON object of {sorted(_TREE_HEAD_MEMBERS)}")
    if head["format"] != TREE_HEAD_FORMAT or head["service"] != service:
        raise CheckFailed(f"the tree head is not a {TREE_HEAD_FORMAT} of the {service} history")
    for name in ("position", "stream_count", "event_count"):
        if type(head[name]) is not int or head[name] < 0:
            raise CheckFailed(f"the tree head's {name} is not a count")
    if not isinstance(head["root"], str) or not re.fullmatch(r"[0-9a-f]{64}", head["root"]):
        raise CheckFailed("the tree head's root is not a SHA-256 in hex")
    key = head["public_key"]
    if not isinstance(key, dict) or key.get("kid") != head["kid"]:
        raise CheckFailed("the tree head's public_key is not a JWK named by its kid")
    raw = public_key_of({"id": f"history key {head['kid']!r}", "publicKeyJwk": key})
    if not isinstance(head["signature"], str):
        raise CheckFailed("the tree head's signature is not base64url")
    signature = b64url_decode(head["signature"], "the tree head's signature")
    unsigned = {name: value for name, value in head.items() if name != "signature"}
    signed = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, signed.encode("utf-8"))
    except (InvalidSignature, ValueError):
        raise CheckFailed("the tree head's signature does not verify: it was altered") from None
    return (
        f"signed tree head at position {head['position']} ({head['event_count']} events, "
        f"{head['stream_count']} streams, root {head['root'][:16]}…) by history key {head['kid']}"
    )

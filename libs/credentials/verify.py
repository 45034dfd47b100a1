"""Offline verification of a credential bundle (`betterwork-credential-bundle/1`): every check a
buyer can make with the file alone, each reported by name, passed or failed with its reason.

Nothing here opens a socket or reads a file: the bundle carries the issuer's DID document, the
status list as of issuance and the JSON-LD contexts. What the file alone cannot prove is that the
bundled DID document is the programme's: pass `trusted_did_document` (a copy of
`/.well-known/did.json` fetched once, or kept from an earlier bundle) to pin the issuer's keys."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.credentials.verify_decode import (
    MIN_STATUS_LIST_BITS,
    CheckFailed,
    Jws,
    as_list,
    b64url_decode,
    check_tree_head,
    decode_jws,
    find_verification_method,
    public_key_of,
    read_status,
    verify_signature,
)

BUNDLE_FORMAT = "betterwork-credential-bundle/1"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CREDENTIAL_TYPES = ("VerifiableCredential", "DigitalConformityCredential")
STATUS_LIST_TYPE = "BitstringStatusListCredential"
# How far ahead of this machine's clock an issuer's clock may be before `validFrom` counts as in
# the future.
CLOCK_SKEW = timedelta(minutes=5)
__all__ = [
    "BUNDLE_FORMAT",
    "CHECKS",
    "MIN_STATUS_LIST_BITS",
    "VC_CONTEXT",
    "Check",
    "CheckFailed",
    "Verification",
    "b64url_decode",
    "canonical_json",
    "verify_bundle",
]
CHECKS = (
    "format",
    "issuer",
    "header",
    "signature",
    "contexts",
    "types",
    "validity",
    "evidence",
    "status-list",
    "status",
    "history",
)
# Checks that say nothing once another failed (every check needs the format's).
_NEEDS = {"signature": ("header",), "status": ("status-list",)}
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Check:
    """One named check: passed or failed, and why."""

    name: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class Verification:
    """The checks in `CHECKS` order; `ok` when every one passed. `credential` is the decoded
    payload (shown, not trusted, when a check failed)."""

    checks: tuple[Check, ...]
    credential: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def __getitem__(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "credential": {key: self.credential.get(key) for key in ("id", "issuer", "validFrom")},
            "checks": [
                {"name": c.name, "passed": c.passed, "reason": c.reason} for c in self.checks
            ],
        }


def canonical_json(value: Any) -> bytes:
    """The report's canonical form the hash is taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def verify_bundle(
    bundle: Any,
    *,
    now: datetime | None = None,
    status_list: str | None = None,
    trusted_did_document: Mapping[str, Any] | None = None,
) -> Verification:
    """Verify an offline bundle with no network. `status_list`: a newer status list credential
    (compact JWS, e.g. fetched later from the `statusListCredential` URL) to check the credential's
    status against instead of the bundled one (as of issuance)."""
    return _Verifier(bundle, now or datetime.now(UTC), status_list, trusted_did_document).run()


class _Verifier:
    def __init__(
        self,
        bundle: Any,
        now: datetime,
        status_list: str | None,
        trusted: Mapping[str, Any] | None,
    ) -> None:
        self.bundle = bundle
        self.now = now
        self.given_status_list = status_list
        self.trusted = trusted
        self.results: dict[str, Check] = {}
        self.credential: Jws | None = None
        self.did_document: dict[str, Any] = {}

    def run(self) -> Verification:
        for name, step in (
            ("format", self._format),
            ("issuer", self._issuer),
            ("header", self._header),
            ("signature", self._signature),
            ("contexts", self._contexts),
            ("types", self._types),
            ("validity", self._validity),
            ("evidence", self._evidence),
            ("status-list", self._status_list),
            ("status", self._status),
            ("history", self._history),
        ):
            self.results[name] = self._attempt(name, step)
        payload = self.credential.payload if self.credential else {}
        return Verification(tuple(self.results[name] for name in CHECKS), payload)

    def _attempt(self, name: str, step: Any) -> Check:
        needs = ["format", *_NEEDS.get(name, ())] if name != "format" else []
        blocked = [n for n in needs if not self.results[n].passed]
        if blocked:
            return Check(name, False, f"not checked: the {blocked[0]} check failed")
        try:
            reason = step()
        except CheckFailed as failure:
            return Check(name, False, str(failure))
        return Check(name, True, reason)

    # --- the checks; each returns the reason it passed or raises CheckFailed ---

    def _format(self) -> str:
        bundle = self.bundle
        if not isinstance(bundle, dict):
            raise CheckFailed("the bundle is not a JSON object")
        if bundle.get("format") != BUNDLE_FORMAT:
            raise CheckFailed(f"format is {bundle.get('format')!r}, expected {BUNDLE_FORMAT!r}")
        for key, kind in (
            ("credential", str),
            ("report", dict),
            ("issuer", dict),
            ("statusList", dict),
            ("contexts", dict),
            ("history", dict),
        ):
            if not isinstance(bundle.get(key), kind):
                raise CheckFailed(f"{key} is missing or not a JSON {_kind(kind)}")
        if not isinstance(bundle["issuer"].get("didDocument"), dict):
            raise CheckFailed("issuer.didDocument is missing or not a JSON object")
        if not isinstance(bundle["statusList"].get("credential"), str):
            raise CheckFailed("statusList.credential is missing or not a string")
        self.credential = decode_jws(bundle["credential"], "the credential")
        self.did_document = bundle["issuer"]["didDocument"]
        return f"{BUNDLE_FORMAT}: a compact JWS, the report, the DID document, status and history"

    def _issuer(self) -> str:
        assert self.credential is not None
        did = self.did_document.get("id")
        if not isinstance(did, str) or not did.startswith("did:web:") or len(did) == 8:
            raise CheckFailed(f"the DID document's id {did!r} is not a did:web DID")
        if self.bundle["issuer"].get("id") != did:
            raise CheckFailed(f"issuer.id {self.bundle['issuer'].get('id')!r} is not {did}")
        issuer = _issuer_id(self.credential.payload)
        if issuer != did:
            raise CheckFailed(f"the credential's issuer {issuer!r} is not the DID document's {did}")
        if self.trusted is None:
            return f"{did} (its DID document as bundled; pin it with a trusted copy)"
        method = self._signing_method()
        trusted = find_verification_method(self.trusted, method["id"])
        if self.trusted.get("id") != did or trusted is None:
            raise CheckFailed(f"{method['id']} is not in the trusted DID document of {did}")
        if public_key_of(trusted) != public_key_of(method):
            raise CheckFailed(f"{method['id']} differs from the trusted DID document's key")
        return f"{did}: the signing key {method['id']} is in the trusted DID document"

    def _header(self) -> str:
        assert self.credential is not None
        method = self._check_header(self.credential, "vc+jwt")
        return f"alg EdDSA, typ vc+jwt, kid {method['id']} (an assertionMethod of the issuer)"

    def _signature(self) -> str:
        assert self.credential is not None
        method = self._signing_method()
        verify_signature(self.credential, public_key_of(method), "the credential")
        return f"Ed25519 signature valid with {method['id']}"

    def _contexts(self) -> str:
        assert self.credential is not None
        contexts = self.credential.payload.get("@context")
        if not isinstance(contexts, list) or not contexts or contexts[0] != VC_CONTEXT:
            raise CheckFailed(f"@context must be a list starting with {VC_CONTEXT}")
        bundled = self.bundle["contexts"]
        urls = [c for c in contexts if isinstance(c, str)]
        for url in urls:
            document = bundled.get(url)
            if not isinstance(document, dict) or not isinstance(document.get("@context"), dict):
                raise CheckFailed(f"the context {url} is not in the bundle")
        return f"{len(urls)} contexts, each bundled: " + ", ".join(urls)

    def _types(self) -> str:
        assert self.credential is not None
        payload = self.credential.payload
        types = as_list(payload.get("type"))
        missing = [t for t in CREDENTIAL_TYPES if t not in types]
        if missing:
            raise CheckFailed(f"type {types} lacks {', '.join(missing)}")
        subject = payload.get("credentialSubject")
        if not isinstance(subject, dict):
            raise CheckFailed("credentialSubject is missing or not a JSON object")
        subject_types = as_list(subject.get("type"))
        defined = set(_defined_terms(self.bundle["contexts"], payload.get("@context")))
        undefined = [t for t in [*types, *subject_types] if t not in defined]
        if undefined:
            raise CheckFailed(f"types not defined by the bundled contexts: {undefined}")
        if not isinstance(payload.get("id"), str) or not payload["id"].startswith("urn:uuid:"):
            raise CheckFailed(f"id {payload.get('id')!r} is not a urn:uuid")
        return f"{' + '.join(types)} of a {' + '.join(subject_types) or 'subject'}"

    def _validity(self) -> str:
        assert self.credential is not None
        payload = self.credential.payload
        valid_from = _datetime(payload.get("validFrom"), "validFrom")
        if valid_from > self.now + CLOCK_SKEW:
            raise CheckFailed(f"validFrom {payload['validFrom']} is in the future")
        reason = f"valid from {payload['validFrom']}"
        if "validUntil" in payload:
            valid_until = _datetime(payload["validUntil"], "validUntil")
            if valid_until <= self.now:
                raise CheckFailed(f"expired: validUntil {payload['validUntil']}")
            if valid_until <= valid_from:
                raise CheckFailed("validUntil is not after validFrom")
            reason += f" until {payload['validUntil']}"
        return reason

    def _evidence(self) -> str:
        assert self.credential is not None
        evidence = _auditable_evidence(self.credential.payload.get("credentialSubject"))
        method = evidence.get("hashMethod")
        if not isinstance(method, str) or method.upper() != "SHA-256":
            raise CheckFailed(f"hashMethod {method!r} is not SHA-256")
        claimed = evidence.get("hashDigest")
        if not isinstance(claimed, str) or not _HEX_SHA256.fullmatch(claimed.lower()):
            raise CheckFailed(f"hashDigest {claimed!r} is not a SHA-256 in hex")
        try:
            digest = hashlib.sha256(canonical_json(self.bundle["report"])).hexdigest()
        except (ValueError, TypeError) as error:  # NaN, a lone surrogate
            raise CheckFailed(f"the report has no canonical JSON form: {error}") from None
        if digest != claimed.lower():
            raise CheckFailed(f"the report's SHA-256 is {digest}, the credential says {claimed}")
        return f"SHA-256 of the bundled report's canonical JSON is the hashDigest {digest}"

    def _status_list(self) -> str:
        jws = self._the_status_list()
        method = self._check_header(jws, "vc+jwt", what="the status list")
        verify_signature(jws, public_key_of(method), "the status list")
        payload = jws.payload
        issuer = _issuer_id(payload)
        if issuer != self.did_document.get("id"):
            raise CheckFailed(f"the status list's issuer {issuer!r} is not the credential's")
        if STATUS_LIST_TYPE not in as_list(payload.get("type")):
            raise CheckFailed(f"the status list is not a {STATUS_LIST_TYPE}")
        _datetime(payload.get("validFrom"), "the status list's validFrom")
        source = "given" if self.given_status_list is not None else "bundled"
        return f"the {source} list {payload.get('id')} as of {payload['validFrom']}, signed by {method['id']}"

    def _status(self) -> str:
        assert self.credential is not None
        statuses = as_list(self.credential.payload.get("credentialStatus"))
        if not statuses:
            raise CheckFailed("the credential has no credentialStatus")
        reasons = [read_status(entry, self._the_status_list().payload) for entry in statuses]
        bad = [reason for passed, reason in reasons if not passed]
        if bad:
            raise CheckFailed("; ".join(bad))
        return "; ".join(reason for _passed, reason in reasons)

    def _history(self) -> str:
        history = self.bundle["history"]
        for key in ("service", "stream"):
            if not isinstance(history.get(key), str) or not history[key]:
                raise CheckFailed(f"history.{key} is missing")
        version = history.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CheckFailed(f"history.version {version!r} is not a stream version")
        event_hash = history.get("eventHash")
        if not isinstance(event_hash, str) or not _HEX_SHA256.fullmatch(event_hash):
            raise CheckFailed(f"history.eventHash {event_hash!r} is not a SHA-256 in hex")
        where = f"{history['service']} stream {history['stream']} version {version}"
        if history.get("treeHead") is None:
            return f"event {event_hash[:16]}… at {where}; no signed tree head covers it yet"
        head = check_tree_head(history["treeHead"], history["service"])
        return f"event {event_hash[:16]}… at {where}; {head}"

    # --- shared steps ---

    def _the_status_list(self) -> Jws:
        token = self.given_status_list
        if token is None:
            token = self.bundle["statusList"]["credential"]
        return decode_jws(token, "the status list")

    def _signing_method(self) -> dict[str, Any]:
        assert self.credential is not None
        return self._check_header(self.credential, "vc+jwt")

    def _check_header(self, jws: Jws, typ: str, what: str = "the credential") -> dict[str, Any]:
        header = jws.header
        if header.get("alg") != "EdDSA":
            raise CheckFailed(f"{what}'s alg is {header.get('alg')!r}, not EdDSA")
        if header.get("typ") != typ:
            raise CheckFailed(f"{what}'s typ is {header.get('typ')!r}, not {typ}")
        if header.get("crit") is not None:
            raise CheckFailed(f"{what} has critical header parameters {header['crit']!r}")
        kid = header.get("kid")
        did = self.did_document.get("id")
        if not isinstance(kid, str) or not isinstance(did, str) or not kid.startswith(did + "#"):
            raise CheckFailed(f"{what}'s kid {kid!r} is not a key of {did}")
        method = find_verification_method(self.did_document, kid, purpose="assertionMethod")
        if method is None:
            raise CheckFailed(f"{kid} is not an assertionMethod of the bundled DID document")
        public_key_of(method)  # a usable Ed25519 public key, or CheckFailed
        return method


def _kind(kind: type) -> str:
    return "string" if kind is str else "object"


def _issuer_id(payload: Mapping[str, Any]) -> Any:
    issuer = payload.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer


def _datetime(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise CheckFailed(f"{what} is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CheckFailed(f"{what} {value!r} is not a date-time") from None
    if moment.tzinfo is None:
        raise CheckFailed(f"{what} {value!r} has no time zone")
    return moment


def _auditable_evidence(subject: Any) -> dict[str, Any]:
    evidence = [
        item
        for item in as_list(subject.get("auditableEvidence") if isinstance(subject, dict) else None)
        if isinstance(item, dict) and "hashDigest" in item
    ]
    if len(evidence) != 1:
        raise CheckFailed("the credential binds no report: no auditableEvidence with a hashDigest")
    return evidence[0]


def _defined_terms(bundled: Mapping[str, Any], contexts: Any) -> Iterator[str]:
    """The terms the credential's contexts define at their top level (types are top-level terms
    in the VC and UNTP contexts)."""
    for context in as_list(contexts):
        document = bundled.get(context) if isinstance(context, str) else {"@context": context}
        inner = document.get("@context") if isinstance(document, dict) else None
        for entry in as_list(inner):
            if isinstance(entry, dict):
                yield from (key for key in entry if not key.startswith("@"))

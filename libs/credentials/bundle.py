"""The offline verification bundle (`application/vnd.betterwork.credential-bundle+json`): one JSON
file with everything a buyer needs to verify a credential with no network: the credential, the
full report it binds, the issuer's DID document, the status list as of issuance (signed), the
JSON-LD contexts and the report's position in the tamper-evident history. `build_bundle` makes
one; `libs.credentials.verify.verify_bundle` checks one (docs/verifying.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# its verification, with no network: the checks live in verify.py (verify_decode.py decodes)
from libs.credentials.verify import Check, Verification, verify_bundle

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_MEDIA_TYPE",
    "Check",
    "Verification",
    "build_bundle",
    "history_position",
    "verify_bundle",
]

BUNDLE_FORMAT = "betterwork-credential-bundle/1"
BUNDLE_MEDIA_TYPE = "application/vnd.betterwork.credential-bundle+json"


def history_position(
    service: str,
    stream: str,
    version: int,
    event_hash: str,
    tree_head: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Where the report is in the issuing service's hash-chained history: the event that
    completed (or corrected) it, its hash, and the signed tree head covering it if one exists
    yet (at issuance none does: the head is signed later)."""
    return {
        "service": service,
        "stream": stream,
        "version": version,
        "eventHash": event_hash,
        "treeHead": dict(tree_head) if tree_head is not None else None,
    }


def build_bundle(
    *,
    credential: str,
    report: Mapping[str, Any],
    did_document: Mapping[str, Any],
    status_list: str,
    contexts: Mapping[str, Any],
    history: Mapping[str, Any],
) -> dict[str, Any]:
    """The bundle of a compact `vc+jwt` `credential` of `report`, signed by a key of
    `did_document`, with the signed `status_list` credential as of issuance."""
    return {
        "format": BUNDLE_FORMAT,
        "credential": credential,
        "report": dict(report),
        "issuer": {"id": did_document["id"], "didDocument": dict(did_document)},
        "statusList": {"credential": status_list},
        "contexts": dict(contexts),
        "history": dict(history),
    }

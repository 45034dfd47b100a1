"""`verify_bundle`'s status list, status and history checks, and its answer to any JSON at all:
a verification with failed checks, never an exception."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.credentials.tests.test_verify_bundle import (
    DID,
    NOW,
    REPORT,
    STATUS_LIST_URL,
    Issuer,
    b64url,
    build_bundle,
    credential_payload,
    did_document,
    failed,
    status_list_payload,
)
from libs.credentials.verify import CHECKS, MIN_STATUS_LIST_BITS, b64url_decode, verify_bundle


class TestTheStatusList:
    def test_a_list_signed_by_a_key_the_issuer_lacks_fails_it(self) -> None:
        bundle = build_bundle()
        bundle["statusList"]["credential"] = Issuer("key-x").sign(status_list_payload())
        failures = failed(bundle)
        assert "is not an assertionMethod" in failures["status-list"]
        assert failures["status"] == "not checked: the status-list check failed"

    def test_a_list_whose_bits_were_edited_fails_its_signature(self) -> None:
        bundle = build_bundle()
        header, _payload, signature = bundle["statusList"]["credential"].split(".")
        edited = b64url(json.dumps(status_list_payload(set_bits=[7])).encode())
        bundle["statusList"]["credential"] = f"{header}.{edited}.{signature}"
        assert failed(bundle)["status-list"] == (
            "the status list's signature does not verify: it was altered"
        )

    def test_a_list_of_another_issuer_fails_it(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(
            issuer, status_list=status_list_payload() | {"issuer": "did:web:other.example"}
        )
        assert "is not the credential's" in failed(bundle)["status-list"]

    def test_a_credential_that_is_no_status_list_fails_it(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer, status_list=credential_payload(REPORT))
        assert "is not a BitstringStatusListCredential" in failed(bundle)["status-list"]


class TestTheStatus:
    def test_a_superseded_credential_fails_it_and_says_so(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer, status_list=status_list_payload(set_bits=[42]))
        assert failed(bundle) == {"status": f"index 42 of {STATUS_LIST_URL} is 0x1: superseded"}

    def test_its_neighbours_bits_say_nothing_of_it(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer, status_list=status_list_payload(set_bits=[41, 43, 0]))
        assert failed(bundle) == {}

    def test_a_newer_list_given_marks_the_bundled_credential_superseded(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer)
        newer = issuer.sign(
            status_list_payload(set_bits=[42]) | {"validFrom": "2026-03-05T08:00:00Z"}
        )
        verification = verify_bundle(bundle, now=NOW, status_list=newer)
        assert [check.name for check in verification.failed] == ["status"]
        assert verification["status-list"].reason.startswith(
            f"the given list {STATUS_LIST_URL} as of 2026-03-05T08:00:00Z"
        )
        assert verify_bundle(bundle, now=NOW).ok  # as of issuance it was valid

    def test_a_newer_list_someone_else_signed_is_refused(self) -> None:
        bundle = build_bundle()
        forged = Issuer().sign(status_list_payload())
        assert "signature does not verify" in failed(bundle, status_list=forged)["status-list"]

    def test_a_revocation_list_passes_an_unset_bit_and_fails_a_set_one(self) -> None:
        issuer = Issuer()

        def revocable(claims: dict[str, Any]) -> dict[str, Any]:
            entry = claims["credentialStatus"]
            entry["statusPurpose"] = "revocation"
            del entry["statusMessage"], entry["statusSize"]
            return claims

        credential = revocable(credential_payload(REPORT))
        clean = build_bundle(
            issuer, credential=credential, status_list=status_list_payload(purpose="revocation")
        )
        assert failed(clean) == {}
        revoked = build_bundle(
            issuer,
            credential=credential,
            status_list=status_list_payload([42], purpose="revocation"),
        )
        assert failed(revoked) == {
            "status": f"index 42 of {STATUS_LIST_URL} is set: the credential is revoked"
        }

    def test_a_list_of_another_purpose_fails_it(self) -> None:
        issuer = Issuer()
        bundle = build_bundle(issuer, status_list=status_list_payload(purpose="suspension"))
        assert failed(bundle) == {"status": "the list is not of the entry's purpose 'message'"}

    def test_an_entry_naming_another_list_fails_it(self) -> None:
        issuer = Issuer()
        credential = credential_payload(REPORT)
        credential["credentialStatus"]["statusListCredential"] = STATUS_LIST_URL + "0"
        bundle = build_bundle(issuer, credential=credential)
        assert "names the list" in failed(bundle)["status"]

    @pytest.mark.parametrize("index", ["-1", "4.2", "x", str(MIN_STATUS_LIST_BITS), "", True])
    def test_an_index_outside_the_list_fails_it(self, index: Any) -> None:
        issuer = Issuer()
        credential = credential_payload(REPORT)
        credential["credentialStatus"]["statusListIndex"] = index
        assert set(failed(build_bundle(issuer, credential=credential))) == {"status"}

    def test_a_message_list_must_name_the_status_it_finds(self) -> None:
        issuer = Issuer()
        credential = credential_payload(REPORT)
        credential["credentialStatus"]["statusMessage"] = [{"status": "0x0", "message": "valid"}]
        bundle = build_bundle(
            issuer, credential=credential, status_list=status_list_payload(set_bits=[42])
        )
        assert failed(bundle) == {"status": "the entry's statusMessage says nothing of status 0x1"}

    def test_a_two_bit_status_reads_both_bits(self) -> None:
        issuer = Issuer()
        credential = credential_payload(REPORT, index=3)
        credential["credentialStatus"]["statusSize"] = 2
        credential["credentialStatus"]["statusMessage"] = [
            {"status": f"0x{value}", "message": message}
            for value, message in enumerate(["valid", "superseded", "withdrawn", "disputed"])
        ]
        # entry 3 is bits 6 and 7: 0b10 is "withdrawn"
        bundle = build_bundle(
            issuer, credential=credential, status_list=status_list_payload(set_bits=[6])
        )
        assert failed(bundle) == {"status": f"index 3 of {STATUS_LIST_URL} is 0x2: withdrawn"}

    @pytest.mark.parametrize(
        ("encoding", "reason"),
        [
            ("multibase base58", "prefix u"),
            ("no compression", "not GZIP-compressed"),
            ("truncated", "truncated"),
            ("short", "fewer than the 131072"),
            ("zlib", "not GZIP-compressed"),
            ("bomb", "inflates past"),
            ("padded", "not base64url"),
        ],
    )
    def test_an_encoded_list_out_of_the_standard_fails_it(self, encoding: str, reason: str) -> None:
        encoded = {
            "multibase base58": lambda: "z" + b64url(gzip.compress(bytes(16384))),
            "no compression": lambda: "u" + b64url(bytes(16384)),
            "truncated": lambda: "u" + b64url(gzip.compress(bytes(16384))[:-12]),
            "short": lambda: "u" + b64url(gzip.compress(bytes(1024))),
            "zlib": lambda: "u" + b64url(zlib.compress(bytes(16384))),
            "bomb": lambda: "u" + b64url(gzip.compress(bytes(64 * 1024 * 1024))),
            "padded": lambda: "u" + b64url(gzip.compress(bytes(16384))) + "=",
        }[encoding]()
        issuer = Issuer()
        bundle = build_bundle(issuer, status_list=status_list_payload(encodedList=encoded))
        failures = failed(bundle)
        assert set(failures) == {"status"}
        assert reason in failures["status"]


class TestTheHistory:
    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"eventHash": None}, "history.eventHash None is not a SHA-256 in hex"),
            ({"eventHash": "AB" * 32}, f"history.eventHash '{'AB' * 32}' is not a SHA-256 in hex"),
            ({"version": 0}, "history.version 0 is not a stream version"),
            ({"version": True}, "history.version True is not a stream version"),
            ({"stream": ""}, "history.stream is missing"),
        ],
    )
    def test_a_position_that_is_none_fails_it(self, change: dict[str, Any], reason: str) -> None:
        bundle = build_bundle()
        bundle["history"].update(change)
        assert failed(bundle) == {"history": reason}

    def test_a_signed_tree_head_is_checked(self) -> None:
        bundle = build_bundle()
        bundle["history"]["treeHead"] = tree_head()
        verification = verify_bundle(bundle, now=NOW)
        assert verification.ok, verification.failed
        assert verification["history"].reason.endswith(
            "signed tree head at position 120 (120 events, 9 streams, root "
            f"{'ab' * 8}…) by history key h-1"
        )

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"root": "cd" * 32}, "the tree head's signature does not verify: it was altered"),
            ({"position": 121}, "the tree head's signature does not verify: it was altered"),
            ({"service": "remediation"}, "is not a betterwork-tree-head/1 of the assessment"),
            ({"format": "betterwork-tree-head/2"}, "is not a betterwork-tree-head/1"),
            ({"event_count": -1}, "the tree head's event_count is not a count"),
            ({"kid": "h-2"}, "is not a JWK named by its kid"),
            ({"extra": 1}, "is not a JSON object of"),
            ({"signature": "!"}, "the tree head's signature is not base64url"),
        ],
    )
    def test_an_altered_tree_head_fails_it(self, change: dict[str, Any], reason: str) -> None:
        bundle = build_bundle()
        bundle["history"]["treeHead"] = tree_head() | change
        failures = failed(bundle)
        assert set(failures) == {"history"}
        assert reason in failures["history"]

    def test_a_tree_head_publishing_its_private_key_fails_it(self) -> None:
        bundle = build_bundle()
        key = Ed25519PrivateKey.generate()
        head = tree_head(key)
        head["public_key"] = head["public_key"] | {"d": b64url(key.private_bytes_raw())}
        bundle["history"]["treeHead"] = head
        assert "PRIVATE key" in failed(bundle)["history"]

    def test_no_tree_head_yet_is_said(self) -> None:
        verification = verify_bundle(build_bundle(), now=NOW)
        event_hash = hashlib.sha256(b"the completing event").hexdigest()
        assert verification["history"].reason == (
            f"event {event_hash[:16]}… at assessment stream assessment-a-1 version 7; "
            "no signed tree head covers it yet"
        )


def tree_head(key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """A signed tree head of the assessment history, as the history signer documents it."""
    key = key or Ed25519PrivateKey.generate()
    public = {"kty": "OKP", "crv": "Ed25519", "x": b64url(key.public_key().public_bytes_raw()),
              "kid": "h-1", "alg": "EdDSA"}  # fmt: skip
    head = {
        "format": "betterwork-tree-head/1",
        "service": "assessment",
        "position": 120,
        "stream_count": 9,
        "event_count": 120,
        "root": "ab" * 32,
        "signed_at": "2026-03-04T10:00:05.000000Z",
        "kid": "h-1",
        "public_key": public,
    }
    signed = json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return head | {"signature": b64url(key.sign(signed.encode()))}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PARTS = ["format", "credential", "report", "issuer", "statusList", "contexts", "history"]


class TestAnyInput:
    """Any JSON in place of any part is failed checks, never an exception."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(part=st.sampled_from(PARTS), value=JSON)
    def test_any_value_in_any_part(self, part: str, value: Any) -> None:
        bundle = build_bundle()
        bundle[part] = value
        verification = verify_bundle(bundle, now=NOW)
        assert [check.name for check in verification.checks] == list(CHECKS)
        assert not verification.ok

    @settings(max_examples=300, deadline=None)
    @given(
        where=st.sampled_from(
            [("issuer", "didDocument"), ("statusList", "credential"), ("history", "treeHead")]
        ),
        value=JSON.filter(lambda value: value is not None),
    )
    def test_any_value_in_any_inner_part(self, where: tuple[str, str], value: Any) -> None:
        bundle = build_bundle()
        bundle[where[0]][where[1]] = value
        assert not verify_bundle(bundle, now=NOW).ok

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="AQgw_-=+/.=\n\0é", max_size=12))
    def test_base64url_is_decoded_strictly_or_refused(self, text: str) -> None:
        try:
            decoded = b64url_decode(text, "x")
        except Exception as error:
            assert type(error).__name__ == "CheckFailed"
        else:
            assert b64url(decoded) == text


def test_the_issuer_did_is_in_every_reason_that_names_a_key() -> None:
    failures = failed(build_bundle(Issuer("key-7"), document=did_document(Issuer("key-8"))))
    assert f"{DID}#key-7" in failures["header"]

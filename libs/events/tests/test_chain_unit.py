"""The chain's pure parts without a database: the event hash's canonical form, the RFC 6962 Merkle
root, and signing and verifying a tree head (and every way a head can be refused)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from libs.events.chain import GENESIS, MerkleTree, canonical_time, event_hash, merkle_root
from libs.events.treehead import (
    HistoryKey,
    HistoryKeyError,
    TreeHead,
    parse_history_keys,
    sign_tree_head,
    signed_bytes,
    tree_head_problem,
)

AT = datetime(2026, 12, 8, 3, 4, 5, 678901, tzinfo=UTC)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 as written: split at the largest power of two smaller than n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    left, right = reference_root(leaves[:split]), reference_root(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


class TestEventHash:
    def test_is_sha256_of_the_predecessor_and_each_field_with_its_length(self) -> None:
        fields = [
            "assessment-1",
            "2",
            "6f1d7a32-4a9e-4d0b-9a43-6d1f2c3b4a5e",
            "AssessmentStarted",
            "factory-1",
            '{"a": 1}',
            '{"actor": "é"}',
            "2026-12-08T03:04:05.678901Z",
        ]
        expected = hashlib.sha256(
            bytes(32) + b"".join(len(f.encode()).to_bytes(4, "big") + f.encode() for f in fields)
        ).hexdigest()
        stream_id, _version, event_id, event_type, subject, data, metadata, _at = fields
        assert (
            event_hash(GENESIS, stream_id, 2, event_id, event_type, subject, data, metadata, AT)
            == expected
        )

    def test_every_field_and_the_predecessor_change_the_hash(self) -> None:
        base = ("s", 1, "id", "T", "f", "{}", "{}", AT)
        hashes = {
            event_hash(GENESIS, *base),
            event_hash("1" * 64, *base),
            event_hash(GENESIS, "t", *base[1:]),
            event_hash(GENESIS, "s", 2, *base[2:]),
            event_hash(GENESIS, *base[:5], '{"a": 1}', *base[6:]),
            event_hash(GENESIS, *base[:6], '{"b": 1}', AT),
            event_hash(GENESIS, *base[:7], AT + timedelta(microseconds=1)),
        }
        assert len(hashes) == 7

    def test_fields_cannot_be_shifted_into_one_another(self) -> None:
        # without the lengths "ab" + "c" and "a" + "bc" would hash alike
        assert event_hash(GENESIS, "ab", 1, "c", "T", "f", "{}", "{}", AT) != event_hash(
            GENESIS, "a", 1, "bc", "T", "f", "{}", "{}", AT
        )

    def test_recorded_at_is_hashed_in_utc_whatever_its_zone(self) -> None:
        elsewhere = AT.astimezone(timezone(timedelta(hours=7)))
        assert canonical_time(elsewhere) == "2026-12-08T03:04:05.678901Z"
        assert canonical_time(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000Z"


class TestMerkleTree:
    def test_keeps_the_root_of_the_sorted_leaves_through_updates_and_new_streams(self) -> None:
        """Random rounds of changed and new streams, a root after each, always what
        merkle_root computes from scratch."""
        import random

        chance = random.Random(20)
        tree, heads = MerkleTree(), {}
        assert tree.root() == merkle_root([])
        for round_ in range(300):
            for _ in range(chance.choice([0, 1, 1, 2, 5, 40])):
                stream = f"s-{chance.randrange(400):03d}"
                heads[stream] = hashlib.sha256(f"{round_}{stream}".encode()).hexdigest()
                tree.set(stream, heads[stream])
            assert tree.root() == merkle_root(sorted(heads.items())), round_
        assert len(tree) == len(heads)

    def test_a_stream_set_twice_before_a_root_keeps_its_last_head(self) -> None:
        tree = MerkleTree()
        tree.set("b", "11" * 32)
        tree.set("b", "22" * 32)
        tree.set("a", "33" * 32)
        assert tree.root() == merkle_root([("a", "33" * 32), ("b", "22" * 32)])


class TestMerkleRoot:
    @pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 100, 1025])
    def test_is_rfc_6962_tree_hash_of_the_sorted_leaves(self, count: int) -> None:
        leaves = [
            (f"stream-{n:05d}", hashlib.sha256(str(n).encode()).hexdigest()) for n in range(count)
        ]
        hashed = [
            hashlib.sha256(b"\x00" + stream.encode() + bytes.fromhex(head)).digest()
            for stream, head in leaves
        ]
        assert merkle_root(leaves) == reference_root(hashed).hex()

    def test_changes_with_any_leaf(self) -> None:
        leaves = [(f"s{n}", "ab" * 32) for n in range(5)]
        changed = [*leaves[:3], ("s3", "cd" * 32), leaves[4]]
        assert merkle_root(leaves) != merkle_root(changed)
        assert merkle_root(leaves) != merkle_root(leaves[:4])


def head(key: HistoryKey, **changes: object) -> dict[str, object]:
    document = sign_tree_head(
        key,
        service="assessment",
        position=42,
        stream_count=3,
        event_count=40,
        root="ab" * 32,
        signed_at=AT,
    ).document()
    document.update(changes)
    return document


class TestTreeHead:
    def test_a_signed_head_verifies_alone_with_the_key_it_carries(self) -> None:
        key = HistoryKey.generate()
        document = head(key)
        assert tree_head_problem(document) is None
        assert document["public_key"] == key.public_jwk()
        assert "d" not in document["public_key"]
        assert document["signed_at"] == "2026-12-08T03:04:05.678901Z"

    def test_the_signature_is_ed25519_over_the_canonical_json_of_the_rest(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from libs.events.treehead import _b64url_decode

        key = HistoryKey.generate()
        document = head(key)
        unsigned = {k: v for k, v in document.items() if k != "signature"}
        canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
        assert signed_bytes(unsigned) == canonical
        public = Ed25519PublicKey.from_public_bytes(_b64url_decode(key.public_jwk()["x"]))
        public.verify(_b64url_decode(str(document["signature"])), canonical)

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"root": "cd" * 32}, "does not verify"),
            ({"event_count": 41}, "does not verify"),
            ({"position": 43}, "does not verify"),
            ({"service": "remediation"}, "does not verify"),
            ({"signed_at": "2026-12-08T03:04:05.000000Z"}, "does not verify"),
            ({"kid": "other"}, "kid is not"),
            ({"position": -1}, "not a count"),
            ({"position": True}, "not a count"),
            ({"root": "AB" * 32}, "not a SHA-256"),
            ({"format": "other/1"}, "format"),
            ({"signature": "!!"}, "base64url"),
            ({"signature": 7}, "base64url"),
            ({"public_key": {"kty": "RSA"}}, "OKP"),
            ({"extra": 1}, "members"),
        ],
    )
    def test_any_change_or_malformed_member_is_refused(
        self, change: dict[str, object], reason: str
    ) -> None:
        problem = tree_head_problem(head(HistoryKey.generate(), **change))
        assert problem is not None and reason in problem

    def test_another_keys_signature_is_refused(self) -> None:
        signed, other = HistoryKey.generate(), HistoryKey.generate()
        forged = head(signed, public_key=other.public_jwk(), kid=other.kid)
        assert "does not verify" in str(tree_head_problem(forged))

    def test_not_an_object_is_refused(self) -> None:
        assert tree_head_problem([1, 2]) == "a tree head is a JSON object"

    def test_the_document_round_trips_through_the_dataclass(self) -> None:
        key = HistoryKey.generate()
        document = head(key)
        restored = TreeHead(
            service="assessment",
            position=42,
            stream_count=3,
            event_count=40,
            root="ab" * 32,
            signed_at=AT,
            kid=key.kid,
            public_key=key.public_jwk(),
            signature=str(document["signature"]),
        )
        assert restored.document() == document


class TestHistoryKeys:
    def test_a_configured_ring_is_read_signing_key_first(self) -> None:
        first, second = HistoryKey.generate(), HistoryKey.generate()
        keys = parse_history_keys(json.dumps([first.private_jwk(), second.private_jwk()]))
        assert [key.kid for key in keys] == [first.kid, second.kid]
        assert parse_history_keys("  ") == []

    @pytest.mark.parametrize(
        ("configured", "reason"),
        [
            ("not json", "not JSON"),
            ("{}", "non-empty JSON array"),
            ("[]", "non-empty JSON array"),
            ("[1]", "not a JSON object"),
            ('[{"kty": "OKP", "crv": "Ed25519", "d": "AA", "x": "AA"}]', "kid"),
            ('[{"kid": "k", "kty": "EC", "crv": "P-256"}]', "not Ed25519"),
            ('[{"kid": "k", "kty": "OKP", "crv": "Ed25519", "x": "AA"}]', "lacks"),
            ('[{"kid": "k", "kty": "OKP", "crv": "Ed25519", "d": "*", "x": "AA"}]', "base64url"),
            ('[{"kid": "k", "kty": "OKP", "crv": "Ed25519", "d": "AA", "x": "AA"}]', "32 bytes"),
            ('[{"kid": "a b", "kty": "OKP", "crv": "Ed25519", "d": "AA", "x": "AA"}]', "kid"),
        ],
    )
    def test_a_bad_configuration_is_refused(self, configured: str, reason: str) -> None:
        with pytest.raises(HistoryKeyError, match=reason):
            parse_history_keys(configured)

    def test_a_public_key_from_another_private_key_is_refused(self) -> None:
        first, second = HistoryKey.generate(), HistoryKey.generate()
        mixed = {**first.private_jwk(), "x": second.public_jwk()["x"]}
        with pytest.raises(HistoryKeyError, match="not the public key of d"):
            HistoryKey.from_jwk(mixed)

    def test_the_same_kid_twice_is_refused(self) -> None:
        key = HistoryKey.generate()
        with pytest.raises(HistoryKeyError, match="twice"):
            parse_history_keys(json.dumps([key.private_jwk(), key.private_jwk()]))

    def test_a_key_never_shows_its_private_part(self) -> None:
        key = HistoryKey.generate()
        assert key.private_jwk()["d"] not in repr(key)
        assert "d" not in key.public_jwk()

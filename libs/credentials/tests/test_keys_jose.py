"""The issuer's keys, DID document and JOSE signatures, checked with jwcrypto (an independent JOSE
implementation): what we sign verifies there, with the key the header names."""

from __future__ import annotations

import json

import pytest
from jwcrypto import jwk, jws

from libs.credentials import jose
from libs.credentials.did import DidError, did_document, did_web_url, jwks
from libs.credentials.keys import KeyConfigurationError, KeyRing, SigningKey, b64url

DID = "did:web:localhost%3A8001"


def verify_with_jwcrypto(token: str, public_jwk: dict[str, str]) -> dict[str, object]:
    signed = jws.JWS()
    signed.deserialize(token)
    signed.verify(jwk.JWK(**public_jwk), alg="EdDSA")
    payload: dict[str, object] = json.loads(signed.payload)
    return payload


class TestKeys:
    def test_a_configured_ring_keeps_its_order_the_first_signs(self) -> None:
        new, old = SigningKey.generate("2026-12"), SigningKey.generate("2026-01")
        ring = KeyRing.from_json(KeyRing.of([new, old]).to_json())
        assert [key.kid for key in ring] == ["2026-12", "2026-01"]
        assert ring.active.public_raw == new.public_raw
        assert ring.get("2026-01") is not None and ring.get("nope") is None

    def test_a_generated_key_is_named_by_its_thumbprint(self) -> None:
        key = SigningKey.generate()
        assert key.kid == jwk.JWK(**key.public_jwk()).thumbprint()

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("not json", "not JSON"),
            ("[]", "at least one key"),
            ('"a string"', "not a JSON array"),
            ('[{"kty": "RSA", "kid": "a"}]', "not Ed25519"),
            ('[{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "AA"}]', "lacks"),
            ('[{"kty": "OKP", "crv": "Ed25519", "kid": "a", "d": "A+", "x": "AA"}]', "base64url"),
            ('[{"kty": "OKP", "crv": "Ed25519", "kid": "a b", "d": "AA", "x": "AA"}]', "kid"),
            ('[{"kty": "OKP", "crv": "Ed25519", "d": "AA", "x": "AA"}]', "no kid"),
        ],
    )
    def test_refuses_a_ring_that_is_not_private_ed25519_jwks(self, text: str, reason: str) -> None:
        with pytest.raises(KeyConfigurationError, match=reason):
            KeyRing.from_json(text)

    def test_refuses_a_public_half_from_another_key(self) -> None:
        one, other = SigningKey.generate("a"), SigningKey.generate("b")
        mixed = {**one.private_jwk(), "x": other.private_jwk()["x"]}
        with pytest.raises(KeyConfigurationError, match="x is not the public key of d"):
            SigningKey.from_jwk(mixed)

    def test_refuses_two_keys_with_one_kid(self) -> None:
        with pytest.raises(KeyConfigurationError, match="unique: k"):
            KeyRing.of([SigningKey.generate("k"), SigningKey.generate("k")])

    def test_the_private_key_shows_in_no_repr(self) -> None:
        key = SigningKey.generate("k")
        assert key.private_jwk()["d"] not in repr(key)
        assert "d" not in key.public_jwk()


class TestDid:
    def test_lists_every_key_as_an_assertion_method(self) -> None:
        ring = KeyRing.of([SigningKey.generate("new"), SigningKey.generate("old")])
        document = did_document(DID, ring)
        assert document["id"] == DID
        assert document["assertionMethod"] == [f"{DID}#new", f"{DID}#old"]
        assert [m["publicKeyJwk"]["kid"] for m in document["verificationMethod"]] == ["new", "old"]
        assert all("d" not in m["publicKeyJwk"] for m in document["verificationMethod"])
        assert [key["kid"] for key in jwks(ring)["keys"]] == ["new", "old"]

    @pytest.mark.parametrize(
        ("did", "url"),
        [
            (DID, "https://localhost:8001/.well-known/did.json"),
            ("did:web:example.org", "https://example.org/.well-known/did.json"),
            ("did:web:example.org:programme:kh", "https://example.org/programme/kh/did.json"),
        ],
    )
    def test_resolves_as_the_did_web_method_says(self, did: str, url: str) -> None:
        assert did_web_url(did) == url

    @pytest.mark.parametrize(
        "did", ["did:key:z6Mk", "did:web:", "did:web:exa mple.org", "did:web:host:", "web:x"]
    )
    def test_refuses_what_is_not_did_web(self, did: str) -> None:
        with pytest.raises(DidError):
            did_document(did, KeyRing.of([SigningKey.generate("k")]))


class TestJose:
    def test_a_signed_credential_verifies_with_an_independent_library(self) -> None:
        key = SigningKey.generate("k1")
        payload = {"id": "urn:uuid:1", "name": "Phnom Penh \u1780"}
        token = jose.sign(payload, key, DID)
        assert verify_with_jwcrypto(token, key.public_jwk()) == payload
        header = jose.decode(token).header
        assert header == {"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": f"{DID}#k1"}

    def test_verifies_against_the_did_document_with_any_listed_key(self) -> None:
        old, new = SigningKey.generate("old"), SigningKey.generate("new")
        token = jose.sign({"id": "x"}, old, DID)
        document = did_document(DID, KeyRing.of([new, old]))
        assert jose.verify(token, document).payload == {"id": "x"}
        with pytest.raises(jose.JoseError, match="not an assertion method"):
            jose.verify(token, did_document(DID, KeyRing.of([new])))

    def test_an_altered_payload_fails(self) -> None:
        key = SigningKey.generate("k")
        header, _payload, signature = jose.sign({"conformance": False}, key, DID).split(".")
        forged = b64url(jose.compact_json({"conformance": True}))
        document = did_document(DID, KeyRing.of([key]))
        with pytest.raises(jose.JoseError, match="does not verify"):
            jose.verify(f"{header}.{forged}.{signature}", document)

    @pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "e30.W10.AA", "!.e30.AA"])
    def test_a_malformed_token_is_a_jose_error(self, token: str) -> None:
        with pytest.raises(jose.JoseError):
            jose.decode(token)

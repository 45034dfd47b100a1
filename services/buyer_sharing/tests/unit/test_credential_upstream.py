"""`ReportCredentialIssued` as buyer sharing reads it (no I/O): our narrow copy decodes what the
assessment service publishes, whatever it adds; an event whose bundle holds no credential, or
with a revision out of range, is refused at decoding (the consumer's retries, then its
dead-letter store), never stored; a batch keeps each credential once, its bundle's members in
the order issued."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from libs.domain.envelope import Envelope
from services.buyer_sharing import upstream
from services.buyer_sharing.projections.upstream import UpstreamRows
from services.buyer_sharing.service import events
from services.buyer_sharing.tests.integration.credential_events import (
    credential_id,
    credential_issued,
    served_bytes,
)
from tools.testkit import UpstreamEnvelopes


def issued(built: int = 0, **changes: Any) -> Envelope:
    """The credential of revision `built`, its data's members replaced by `changes`."""
    envelope = credential_issued(UpstreamEnvelopes(), "f1", "f1-a1", built)
    return envelope.model_copy(update={"data": {**envelope.data, **changes}})


class TestOurCopy:
    def test_decodes_the_producers_event_and_ignores_what_it_adds(self) -> None:
        envelope = issued(1, issuer_key="key-2026-12")
        event = events().decode(envelope)
        assert isinstance(event, upstream.ReportCredentialIssued)
        assert event.credential_id == credential_id("f1-a1", 1)
        assert event.supersedes == credential_id("f1-a1", 0)
        assert event.credential == envelope.data["bundle"]["credential"]
        assert event.bundle == envelope.data["bundle"]

    @pytest.mark.parametrize(
        "changes",
        [
            {"bundle": {"format": "betterwork-credential-bundle/1"}},
            {"bundle": {"credential": ""}},
            {"bundle": {"credential": {"not": "compact"}}},
            {"bundle": "a string"},
            {"revision": -1},
            {"revision": 2**31},
            {"credential_id": ""},
            {"credential_id": "urn:uuid:" + "0" * 200},
        ],
    )
    def test_refuses_an_event_it_could_not_serve(self, changes: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            events().decode(issued(**changes))


class TestABatch:
    def test_keeps_each_credential_once_with_its_bundle_as_issued(self) -> None:
        first, second = issued(0), issued(1)
        rows = UpstreamRows()
        for envelope in (second, first, second, first):
            rows.add(envelope, events().decode(envelope))
        assert sorted(rows.credentials) == sorted([credential_id("f1-a1", r) for r in (0, 1)])
        stored = rows.credentials[credential_id("f1-a1", 0)]
        assert stored[-1].encode() == served_bytes(first)
        assert list(json.loads(stored[-1])) == list(first.data["bundle"])  # members' order
        assert rows.public is False  # no public page shows a credential
